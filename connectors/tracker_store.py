"""Rasa's SQL tracker store, with secrets removed from every event before it is written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker

from bot.masking import redact

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class RedactingSQLTrackerStore(SQLTrackerStore):
    """Stores redacted copies of new events; the live turn still sees the real ones.

    The one-time code a buyer types, the code and portal token the bot sends back and the signed
    upload form would otherwise sit in the conversation history for ever.
    """

    def _additional_events(
        self, session: Session, tracker: DialogueStateTracker
    ) -> Iterator[Event]:
        for event in super()._additional_events(session, tracker):
            yield Event.from_parameters(redact(event.as_dict()))
