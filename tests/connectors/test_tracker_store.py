"""Conversation history keeps the conversation but never the secrets in it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.shop.codes import generate_code
from connectors.tracker_store import RedactingSQLTrackerStore
from tests.helpers.postgres import throwaway_database

SENDER = "shop:whatsapp:2348012345678"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """The conversation database: a SQLite file of the test's own, and an empty database of the
    machine's PostgreSQL (as several Rasa servers share it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
        return
    with throwaway_database() as url:
        yield url


async def test_codes_tokens_and_signed_forms_are_redacted_before_storing(url: str) -> None:
    code = generate_code()
    bot_code = generate_code()
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLWJ5dGVz"
    store = RedactingSQLTrackerStore(domain=Domain.empty(), host=url)

    tracker = DialogueStateTracker(SENDER, slots=[])
    tracker.update(
        UserUttered(
            f"verify {code}",
            intent={"name": "verify_otp", "confidence": 1.0},
            entities=[{"entity": "otp_code", "value": code, "start": 7, "end": 15}],
        )
    )
    tracker.update(BotUttered(f"Your new code is {bot_code}"))
    tracker.update(BotUttered(f"Your portal: https://portal.test/#token={token}"))
    tracker.update(
        BotUttered(
            "Here is your upload form for ORD-7F3K9Q",
            data={"custom": {"receipt_upload": {"fields": {"image/png": {"policy": "c2VjcmV0"}}}}},
        )
    )
    tracker.update(ActionExecuted("utter_code_sent", policy="RulePolicy", confidence=1.0))
    await store.save(tracker)

    with sa.create_engine(url).connect() as connection:
        stored = " ".join(connection.execute(sa.text("SELECT data FROM events")).scalars())
    for secret in (code, bot_code, token, "c2VjcmV0", "2348012345678"):
        assert secret not in stored
    assert "ORD-7F3K9Q" in stored

    restored = await store.retrieve(tracker.sender_id)
    user = next(e for e in restored.events if isinstance(e, UserUttered))
    assert user.text == "verify [redacted]"
    assert user.intent_name == "verify_otp"
    assert user.entities[0]["value"] == "[redacted]"
    bots = [e.text for e in restored.events if isinstance(e, BotUttered)]
    assert bots[0] == "Your new code is [redacted]"
    assert bots[2] == "Here is your upload form for ORD-7F3K9Q"
    assert restored.events[-1].policy == "RulePolicy"


# The latest session kept in memory


def store_at(url: str, **kwargs) -> RedactingSQLTrackerStore:
    return RedactingSQLTrackerStore(domain=Domain.empty(), host=url, **kwargs)


def turn(tracker: DialogueStateTracker, text: str) -> None:
    tracker.update(UserUttered(text, intent={"name": "greet", "confidence": 1.0}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(BotUttered(f"you said {text}"))
    tracker.update(ActionExecuted(ACTION_LISTEN_NAME))


def dicts(tracker: DialogueStateTracker | None) -> list[dict]:
    assert tracker is not None
    return [event.as_dict() for event in tracker.events]


async def one_turn_on_two_servers(
    url: str,
) -> tuple[RedactingSQLTrackerStore, RedactingSQLTrackerStore, DialogueStateTracker]:
    """Our server's store and another server's, on one database, and a conversation of one turn
    that ours saved."""
    ours, theirs = store_at(url), store_at(url)
    tracker = DialogueStateTracker(SENDER, slots=[])
    turn(tracker, "hi")
    await ours.save(tracker)
    return ours, theirs, tracker


class Statements:
    """Counts the SQL statements a store sends: a conversation read from memory needs one."""

    def __init__(self, store: RedactingSQLTrackerStore) -> None:
        self.count = 0
        sa.event.listen(store.engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += 1


async def test_a_conversation_read_from_memory_equals_one_read_from_the_database(
    url: str,
) -> None:
    store = store_at(url)
    tracker = DialogueStateTracker(SENDER, slots=[])
    tracker.update(SessionStarted())
    await store.save(tracker)
    for text in ("hi", f"verify {generate_code()}", "thanks"):
        tracker = await store.retrieve(tracker.sender_id)
        turn(tracker, text)
        await store.save(tracker)

    statements = Statements(store)
    warm = await store.retrieve(tracker.sender_id)
    assert statements.count == 1
    cold = await store_at(url).retrieve(tracker.sender_id)
    assert dicts(warm) == dicts(cold)
    assert "[redacted]" in json.dumps(dicts(warm))
    with sa.create_engine(url).connect() as connection:
        stored = connection.execute(sa.text("SELECT COUNT(*) FROM events")).scalar()
    assert stored == len(cold.events) == 13


async def test_what_another_server_wrote_is_read_from_the_database(url: str) -> None:
    ours, theirs, tracker = await one_turn_on_two_servers(url)
    await ours.retrieve(tracker.sender_id)

    elsewhere = await theirs.retrieve(tracker.sender_id)
    turn(elsewhere, "on the other server")
    await theirs.save(elsewhere)

    seen = await ours.retrieve(tracker.sender_id)
    assert dicts(seen) == dicts(elsewhere)
    assert len(seen.events) == 8
    turn(seen, "back here")
    await ours.save(seen)
    assert dicts(await store_at(url).retrieve(tracker.sender_id)) == dicts(seen)


async def test_a_stale_memory_never_duplicates_or_drops_events_on_save(url: str) -> None:
    ours, theirs, tracker = await one_turn_on_two_servers(url)
    elsewhere = await theirs.retrieve(tracker.sender_id)
    turn(elsewhere, "written by the other server")
    await theirs.save(elsewhere)

    turn(elsewhere, "saved here, with a memory from before")
    await ours.save(elsewhere)
    assert dicts(await store_at(url).retrieve(tracker.sender_id)) == dicts(elsewhere)


async def test_a_new_session_is_read_as_rasa_reads_it(url: str) -> None:
    store = store_at(url)
    tracker = DialogueStateTracker(SENDER, slots=[])
    turn(tracker, "yesterday")
    await store.save(tracker)
    tracker = await store.retrieve(tracker.sender_id)
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    turn(tracker, "today")
    await store.save(tracker)

    latest = await store.retrieve(tracker.sender_id)
    assert dicts(latest) == dicts(
        await SQLTrackerStore(Domain.empty(), host=url).retrieve(tracker.sender_id)
    )
    assert "yesterday" not in json.dumps(dicts(latest))


async def test_memory_holds_only_the_most_recent_conversations(url: str) -> None:
    store = store_at(url, cache_size=2)
    senders = ["shop:whatsapp:1", "shop:whatsapp:2", "shop:whatsapp:3"]
    for sender in senders:
        tracker = DialogueStateTracker(sender, slots=[])
        turn(tracker, "hi")
        await store.save(tracker)
        await store.retrieve(sender)

    statements = Statements(store)
    for sender in reversed(senders):
        statements.count = 0
        await store.retrieve(sender)
        reads = statements.count
        assert reads == (2 if sender == "shop:whatsapp:1" else 1), sender


def test_an_sqlite_tracker_store_writes_ahead(url: str) -> None:
    if not url.startswith("sqlite"):
        pytest.skip("write-ahead logging is SQLite's")
    store_at(url)
    with sa.create_engine(url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
