"""The inbox as the queue of several turn servers: claims with a lease, one turn at a time per
conversation in arrival order, taken over when a server dies. Every test runs on a SQLite file
and on a throwaway database of the machine's PostgreSQL; the races run real threads, each with
its own connection, as separate servers would."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from bot.meta import inbox
from bot.meta.webhooks import parse_whatsapp
from bot.platform import db, notify
from bot.platform.models import InboxMessage, InboxState, utcnow
from bot.platform.settings import get_settings
from tests.helpers.meta import BUYER, wa_text, whatsapp

LEASE = dt.timedelta(seconds=30)
CHANNELS = ("whatsapp",)
OTHER = "2348099990000"
TURN_SECONDS = 0.5


pytestmark = pytest.mark.usefixtures("shop_on_each_database")


def store(text: str, sender: str = BUYER) -> int:
    [(inbox_id, _)] = inbox.store_webhook(
        "whatsapp", *parse_whatsapp(whatsapp([wa_text(text, sender=sender)]))
    )
    return inbox_id


def claimed_id(worker: str = "worker-1") -> int | None:
    claimed = inbox.take_next(worker, LEASE, CHANNELS)
    return None if claimed is None else claimed.inbox_id


def test_a_conversation_is_answered_one_message_at_a_time_in_arrival_order() -> None:
    first, second, third = store("one"), store("two"), store("three")
    other = store("hello", sender=OTHER)
    assert claimed_id("a") == first
    # The buyer's next message waits for the first; another buyer's does not.
    assert claimed_id("b") == other
    assert claimed_id("b") is None
    inbox.close(first, InboxState.DONE)
    assert claimed_id("b") == second
    inbox.close(second, InboxState.FAILED, "no reply")
    assert claimed_id("a") == third


def test_a_claim_names_its_worker_and_is_counted() -> None:
    inbox_id = store("hi")
    assert claimed_id("server-a") == inbox_id
    with db.session_scope() as session:
        row = session.get(InboxMessage, inbox_id)
        assert (row.state, row.claimed_by, row.attempts) == ("processing", "server-a", 1)
        assert row.lease_until > utcnow() + LEASE - dt.timedelta(seconds=5)


def expire_lease(inbox_id: int) -> None:
    with db.session_scope() as session:
        session.get(InboxMessage, inbox_id).lease_until = utcnow() - dt.timedelta(seconds=1)


def test_a_lease_that_ran_out_is_taken_over_and_the_first_worker_loses_it() -> None:
    inbox_id = store("hi")
    later = store("are you there?")
    assert claimed_id("dead") == inbox_id
    assert claimed_id("alive") is None
    expire_lease(inbox_id)
    # The message the dead server held goes first; the buyer's next one still waits for it.
    assert claimed_id("alive") == inbox_id
    assert claimed_id("alive") is None
    assert not inbox.extend(inbox_id, "dead", LEASE)
    with db.session_scope() as session:
        assert session.get(InboxMessage, inbox_id).attempts == 2
    inbox.close(inbox_id, InboxState.DONE)
    assert claimed_id("alive") == later


def test_a_renewed_lease_keeps_the_message() -> None:
    inbox_id = store("hi")
    assert claimed_id("slow") == inbox_id
    expire_lease(inbox_id)
    assert inbox.extend(inbox_id, "slow", LEASE)
    assert claimed_id("other") is None


def test_finished_messages_are_not_claimed_or_renewed() -> None:
    inbox_id = store("hi")
    assert claimed_id() == inbox_id
    inbox.close(inbox_id, InboxState.DONE)
    assert claimed_id() is None
    assert not inbox.extend(inbox_id, "worker-1", LEASE)


class Overlaps:
    """What racing workers did: each message answered how many times, conversations answered
    by two workers at once, and each conversation's messages in the order answered.

    A turn lasts until every worker is busy (or ``TURN_SECONDS``): more workers than buyers are
    then all answering at once only if some buyer is answered twice at the same time."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.busy = threading.Condition()
        self.answering: list[str] = []
        self.overlaps: list[str] = []
        self.answered: dict[int, int] = {}
        self.order: dict[str, list[int]] = {}

    def answer(self, claimed: inbox.Claimed) -> None:
        with self.busy:
            if claimed.key in self.answering:
                self.overlaps.append(claimed.key)
            self.answering.append(claimed.key)
            self.answered[claimed.inbox_id] = self.answered.get(claimed.inbox_id, 0) + 1
            self.order.setdefault(claimed.key, []).append(claimed.inbox_id)
            self.busy.notify_all()
            self.busy.wait_for(lambda: len(self.answering) >= self.workers, TURN_SECONDS)
            self.answering.remove(claimed.key)
        inbox.close(claimed.inbox_id, InboxState.DONE)


def race(workers: int, stored: list[int]) -> Overlaps:
    """``workers`` threads claiming and answering until every stored message is done."""
    seen = Overlaps(workers)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            while len(seen.answered) < len(stored):
                claimed = inbox.take_next(name, LEASE, CHANNELS)
                if claimed is None:
                    time.sleep(0.002)
                    continue
                seen.answer(claimed)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return seen


@pytest.fixture
def burst() -> Iterator[list[int]]:
    """Eight messages from each of three buyers, interleaved as they arrive: more workers than
    buyers, so that any worker free to take a buyer's next message would."""
    buyers = [f"23480000000{n:02d}" for n in range(3)]
    yield [store(f"message {m}", sender=buyer) for m in range(8) for buyer in buyers]


def test_racing_workers_answer_each_message_once_one_at_a_time_per_buyer(
    burst: list[int],
) -> None:
    seen = race(4, burst)
    assert seen.answered == {inbox_id: 1 for inbox_id in burst}
    assert seen.overlaps == []
    assert all(order == sorted(order) for order in seen.order.values())


def test_without_the_per_conversation_check_the_race_shows(
    burst: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broken variant: claiming any waiting message, two workers answer one buyer at once
    and out of order, which the checks above catch."""
    monkeypatch.setattr(inbox, "_first_of_its_conversation", sa.true)
    seen = race(4, burst)
    assert seen.overlaps or any(order != sorted(order) for order in seen.order.values())


def test_turn_servers_are_woken_by_postgresql_when_a_message_is_stored_or_finished() -> None:
    url = get_settings().database_url
    if not notify.listens(url):
        pytest.skip("SQLite serves one process: its server wakes its own turns")
    woken = threading.Semaphore(0)
    listener = notify.Listener(url, inbox.INBOX_TOPIC, woken.release)
    listener.start()
    try:
        # LISTEN is in place once a notification sent now arrives.
        while True:
            with db.session_scope() as session:
                notify.announce(session, inbox.INBOX_TOPIC)
            if woken.acquire(timeout=0.5):
                break
        inbox_id = store("hi")
        assert woken.acquire(timeout=10), "no wake-up for a stored message"
        assert claimed_id() == inbox_id
        inbox.close(inbox_id, InboxState.DONE)
        assert woken.acquire(timeout=10), "no wake-up for a finished message"
    finally:
        listener.stop()
