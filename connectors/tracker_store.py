"""Rasa's SQL tracker store, with secrets removed from every event before it is written, and the
latest session of recent conversations kept in memory.

Rasa reads a conversation's whole latest session from the database at every turn (an ORM query,
then every event parsed from JSON and its class looked up among all event classes) and counts the
stored events again before every save: together about a third of a Rasa server's CPU per turn.
Here the events as stored are kept per conversation with the id of the newest row; one indexed
query tells whether another server wrote since, so several Rasa servers sharing the database stay
correct, and a conversation the cache does not know is read exactly as Rasa reads it.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted, deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.platform.masking import redact

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Conversations kept in memory: those that had a turn most recently.
DEFAULT_CACHE_SIZE = 1000


@dataclass(frozen=True)
class _Session:
    """A conversation's latest session as stored: its events and the id of its newest row."""

    last_id: int
    events: tuple[Event, ...]


class RedactingSQLTrackerStore(SQLTrackerStore):
    """Stores redacted copies of new events; the live turn still sees the real ones.

    The one-time code a buyer types, the code and portal token the bot sends back and the signed
    upload form would otherwise sit in the conversation history for ever. What is kept in memory
    is the stored (redacted) form, so a tracker read from memory equals one read from the database.
    """

    def __init__(self, *args: Any, cache_size: int = DEFAULT_CACHE_SIZE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A failed save's error would otherwise print the events it was saving.
        self.engine.hide_parameters = True
        if self.engine.dialect.name == "sqlite":
            # Rasa leaves SQLite in rollback-journal mode: a journal file written, synced and
            # deleted at every save. In WAL mode (kept in the file) a save is one append.
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        self._cache_size = int(cache_size)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        # Turns of the WhatsApp and Instagram channels run on threads of their own.
        self._lock = threading.Lock()

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session, from memory when no server has written to it since."""
        with self.session_scope() as session:
            last_id = self._last_id(session, sender_id)
            cached = self._cached(sender_id)
            if cached is not None and cached.last_id == last_id:
                events: list[Event] = list(cached.events)
            else:
                rows = self._event_query(
                    session, sender_id, fetch_events_from_all_sessions=False
                ).all()
                events = deserialise_events([json.loads(row.data) for row in rows])
                if rows:
                    self._remember(sender_id, _Session(rows[-1].id, tuple(events)))
        if not self.domain or not events:
            return None
        return DialogueStateTracker.from_events(sender_id, events, self.domain.slots)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's save, knowing from memory how many events are stored already."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            cached = self._cached(tracker.sender_id)
            if cached is not None and cached.last_id == self._last_id(session, tracker.sender_id):
                stored = len(cached.events)
            else:
                cached = None
                stored = self._event_query(
                    session, tracker.sender_id, fetch_events_from_all_sessions=False
                ).count()
            new = [_redacted(event) for event in list(tracker.events)[stored:]]
            rows = [self._row(tracker.sender_id, event) for event in new]
            session.add_all(rows)
            session.flush()
            last_id = rows[-1].id if rows else None
            session.commit()
        if cached is None or any(isinstance(event, SessionStarted) for event in new):
            # A new session starts a new latest session: read it from the database next time.
            self._forget(tracker.sender_id)
        elif last_id is not None:
            self._remember(tracker.sender_id, _Session(last_id, cached.events + tuple(new)))

    def _row(self, sender_id: str, event: Event) -> SQLTrackerStore.SQLEvent:
        """The row Rasa's own save writes for an event."""
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=event.type_name,
            timestamp=data.get("timestamp"),
            intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            action_name=data.get("name"),
            data=json.dumps(data),
        )

    def _last_id(self, session: Session, sender_id: str) -> int | None:
        return session.execute(
            sa.select(sa.func.max(self.SQLEvent.id)).where(self.SQLEvent.sender_id == sender_id)
        ).scalar()

    def _cached(self, sender_id: str) -> _Session | None:
        with self._lock:
            return self._sessions.get(sender_id)

    def _remember(self, sender_id: str, stored: _Session) -> None:
        with self._lock:
            self._sessions[sender_id] = stored
            self._sessions.move_to_end(sender_id)
            while len(self._sessions) > self._cache_size:
                self._sessions.popitem(last=False)

    def _forget(self, sender_id: str) -> None:
        with self._lock:
            self._sessions.pop(sender_id, None)


def _redacted(event: Event) -> Event:
    data = event.as_dict()
    stored = redact(data)
    if "policy" in data:
        # The policy that predicted an action (a class name), not a signed upload form's policy.
        stored["policy"] = data["policy"]
    return Event.from_parameters(stored)
