"""The durable webhook inbox and the record of what was sent.

A message is stored before Meta gets its 200, claimed by exactly one worker, and finished once;
Meta's redeliveries hit the unique key and are dropped, in whichever process they arrive.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Tuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.masking import mask_user_id
from bot.models import InboxMessage, InboxState, OutboundMessage, utcnow

# A claim older than this belongs to a worker that died; the message is taken over.
CLAIM_LEASE = dt.timedelta(minutes=5)
_STATUS_ORDER = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


def accept(
    session: Session,
    *,
    shop_id: str,
    channel: str,
    account_id: str,
    platform_message_id: str,
    sender: str,
    message: Dict[str, Any],
    sent_at: dt.datetime,
) -> int | None:
    """Store an inbound message; None when it was already stored (a redelivery)."""
    row = InboxMessage(
        shop_id=shop_id,
        channel=channel,
        account_id=account_id,
        platform_message_id=platform_message_id,
        sender=sender,
        message=message,
        sent_at=sent_at,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row.id


def claim(session: Session, inbox_id: int) -> InboxMessage | None:
    """Take a message for processing, unless another worker holds a live claim or it is done."""
    now = utcnow()
    taken = session.execute(
        sa.update(InboxMessage)
        .where(
            InboxMessage.id == inbox_id,
            sa.or_(
                InboxMessage.state == InboxState.RECEIVED.value,
                sa.and_(
                    InboxMessage.state == InboxState.PROCESSING.value,
                    InboxMessage.claimed_at < now - CLAIM_LEASE,
                ),
            ),
        )
        .values(
            state=InboxState.PROCESSING.value,
            claimed_at=now,
            attempts=InboxMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        return None
    return session.get(InboxMessage, inbox_id, populate_existing=True)


def finish(session: Session, inbox_id: int, state: InboxState, error: str | None = None) -> None:
    session.execute(
        sa.update(InboxMessage)
        .where(InboxMessage.id == inbox_id)
        .values(state=state.value, finished_at=utcnow(), error=error)
        .execution_options(synchronize_session=False)
    )


def unfinished(session: Session, channel: str) -> List[Tuple[int, str, str]]:
    """(id, shop, sender) of messages acknowledged but not processed, e.g. before a restart."""
    now = utcnow()
    return [
        tuple(row)
        for row in session.execute(
            sa.select(InboxMessage.id, InboxMessage.shop_id, InboxMessage.sender)
            .where(
                InboxMessage.channel == channel,
                sa.or_(
                    InboxMessage.state == InboxState.RECEIVED.value,
                    sa.and_(
                        InboxMessage.state == InboxState.PROCESSING.value,
                        InboxMessage.claimed_at < now - CLAIM_LEASE,
                    ),
                ),
            )
            .order_by(InboxMessage.id)
        )
    ]


def record_sent(
    session: Session,
    *,
    shop_id: str,
    channel: str,
    account_id: str,
    recipient: str,
    platform_message_id: str | None,
    error_code: int | None = None,
    error_title: str | None = None,
) -> None:
    """Every send is kept, failed ones with their error, so statuses can be joined to it."""
    session.add(
        OutboundMessage(
            shop_id=shop_id,
            channel=channel,
            account_id=account_id,
            recipient=mask_user_id(recipient),
            platform_message_id=platform_message_id,
            status="failed" if platform_message_id is None else "accepted",
            error_code=error_code,
            error_title=error_title,
        )
    )


def record_status(
    session: Session,
    *,
    channel: str,
    platform_message_id: str,
    status: str,
    error_code: int | None = None,
    error_title: str | None = None,
) -> bool:
    """Apply a delivery status to the message it refers to; False when the message is unknown.

    Statuses can arrive out of order, so one never moves a message backwards (read, then a late
    delivered, stays read); failed always wins.
    """
    message = session.execute(
        sa.select(OutboundMessage).where(
            OutboundMessage.channel == channel,
            OutboundMessage.platform_message_id == platform_message_id,
        )
    ).scalar_one_or_none()
    if message is None:
        return False
    if _STATUS_ORDER.get(status, -1) >= _STATUS_ORDER.get(message.status, -1):
        message.status = status
        message.updated_at = utcnow()
        if error_code is not None or error_title:
            message.error_code, message.error_title = error_code, (error_title or "")[:255]
    return True
