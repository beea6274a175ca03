"""The durable outbox: a due row is claimed by one worker at a time, on SQLite and PostgreSQL,
taken over only once its claim has outlived the lease, and settled only by its claim's owner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform import db
from bot.platform.models import OutboxState, ShopEvent, ShopWebhook, utcnow
from bot.platform.settings import get_settings
from bot.shop import events, outbox, shops
from tests.helpers.threads import race


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()


def pending_events(count: int) -> list[str]:
    with db.session_scope() as session:
        shops.add_shop(session, "mama-put", "Mama Put")
        session.add(ShopWebhook(shop_id="mama-put", url="https://shop.example/h", secret="s"))
        session.flush()
        made = [
            events.emit(session, "mama-put", events.ORDER_CREATED, {"n": n}) for n in range(count)
        ]
        return [event.id for event in made]


def claim(limit: int) -> Callable[[Callable[[], object]], list[str]]:
    def job(start: Callable[[], object]) -> list[str]:
        with db.session_scope() as session:
            start()
            return [row.id for row in outbox.claim_due(session, ShopEvent, limit)]

    return job


def test_racing_workers_never_claim_the_same_event(any_database: None) -> None:
    made = pending_events(12)
    claims = race([claim(12) for _ in range(4)])
    claimed = [event_id for batch in claims for event_id in batch]
    assert len(claimed) == len(set(claimed))
    # Whatever a worker could not take, the next round takes; none is left behind.
    with db.session_scope() as session:
        rest = [row.id for row in outbox.claim_due(session, ShopEvent, 12)]
    assert sorted(claimed + rest) == sorted(made)


def test_a_claim_is_taken_over_only_after_the_lease(session: Session) -> None:
    (event_id,) = pending_events(1)
    with db.session_scope() as first:
        (mine,) = outbox.claim_due(first, ShopEvent, 10)
        claimed_at = mine.claimed_at
    with db.session_scope() as second:
        assert outbox.claim_due(second, ShopEvent, 10) == []
    with db.session_scope() as later:
        later.execute(
            sa.update(ShopEvent).values(
                claimed_at=utcnow() - outbox.LEASE - dt.timedelta(seconds=1)
            )
        )
    with db.session_scope() as second:
        (taken,) = outbox.claim_due(second, ShopEvent, 10)
        assert taken.attempts == 2
        new_claim = taken.claimed_at
    # The first worker's claim is gone: it settles nothing; the new owner does.
    with db.session_scope() as first:
        assert not outbox.settle(first, ShopEvent, event_id, claimed_at, OutboxState.DONE)
    with db.session_scope() as second:
        assert outbox.settle(second, ShopEvent, event_id, new_claim, OutboxState.DONE)
    with db.session_scope() as check:
        assert check.get(ShopEvent, event_id).state == "done"


def test_a_retry_waits_its_delay(session: Session) -> None:
    (event_id,) = pending_events(1)
    with db.session_scope() as worker:
        (row,) = outbox.claim_due(worker, ShopEvent, 10)
        outbox.settle(
            worker,
            ShopEvent,
            event_id,
            row.claimed_at,
            OutboxState.PENDING,
            error="HTTP 500",
            retry_in=dt.timedelta(minutes=5),
        )
    with db.session_scope() as worker:
        assert outbox.claim_due(worker, ShopEvent, 10) == []
        row = worker.get(ShopEvent, event_id)
        assert (row.state, row.last_error, row.claimed_at) == ("pending", "HTTP 500", None)


def test_backoff_doubles_up_to_its_cap() -> None:
    cap = dt.timedelta(minutes=1)
    delays = [outbox.backoff(n, 5.0, cap).total_seconds() for n in range(1, 7)]
    for delay, ceiling in zip(delays, [5, 10, 20, 40, 60, 60], strict=True):
        assert 0.9 * ceiling <= delay <= ceiling
