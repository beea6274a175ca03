"""Durable deliveries (a shop's events, notifications): each is claimed by one worker at a time,
tried, then finished or tried again later with a growing delay.

A claim is a conditional UPDATE, as the inbox claims messages, so several processes can work on
one table without delivering a row twice at once. The claim's time is its token: a worker whose
claim was taken over (it outlived ``LEASE``) cannot finish the row any more.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.models import Outboxed, OutboxState, utcnow

# Longer than any attempt (a notification's sends, each retried by the Graph client, take a
# few minutes at worst): a claim this old belongs to a worker that died.
LEASE = dt.timedelta(minutes=10)

Row = TypeVar("Row", bound=Outboxed)


def claim_due(session: Session, model: type[Row], limit: int) -> list[Row]:
    """Up to ``limit`` rows due now, each claimed for this worker (attempts counted)."""
    now = utcnow()
    candidates = session.execute(
        sa.select(_key(model))
        .where(_claimable(model, now))
        .order_by(model.next_attempt_at)
        .limit(limit)
    ).scalars()
    claimed: list[Row] = []
    for row_id in list(candidates):
        taken = session.execute(
            sa.update(model)
            .where(_key(model) == row_id, _claimable(model, now))
            .values(claimed_at=now, attempts=model.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:
            row = session.get(model, row_id, populate_existing=True)
            if row is not None:
                claimed.append(row)
    return claimed


def _key(model: type[Outboxed]) -> sa.Column:
    return sa.inspect(model).primary_key[0]


def _claimable(model: type[Outboxed], now: dt.datetime) -> sa.sql.ColumnElement:
    return sa.and_(
        model.state == OutboxState.PENDING.value,
        model.next_attempt_at <= now,
        sa.or_(model.claimed_at.is_(None), model.claimed_at < now - LEASE),
    )


def settle(
    session: Session,
    model: type[Row],
    row_id: Any,
    claimed_at: dt.datetime,
    state: OutboxState,
    *,
    error: str | None = None,
    retry_in: dt.timedelta | None = None,
    **values: Any,
) -> bool:
    """End this worker's claim: the row's new state (``PENDING`` with ``retry_in`` to try again
    later), the error if any, and other columns. False when the claim was no longer ours."""
    now = utcnow()
    changes: dict[str, Any] = {
        "state": state.value,
        "claimed_at": None,
        "last_error": error[:255] if error else None,
        "updated_at": now,
        **values,
    }
    if retry_in is not None:
        changes["next_attempt_at"] = now + retry_in
    done = session.execute(
        sa.update(model)
        .where(_key(model) == row_id, model.claimed_at == claimed_at)
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1


def backoff(attempts: int, base: float, cap: dt.timedelta) -> dt.timedelta:
    """The delay after the ``attempts``-th failed attempt: doubling from ``base`` seconds, at
    most ``cap``, with up to a tenth of jitter so that retries of many rows spread out."""
    delay = min(cap.total_seconds(), base * 2 ** max(attempts - 1, 0))
    return dt.timedelta(seconds=delay * random.uniform(0.9, 1.0))
