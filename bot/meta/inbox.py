"""The durable webhook inbox and the record of what was sent.

A message is stored before Meta gets its 200, claimed by exactly one worker, and finished once;
Meta's redeliveries hit the unique key and are dropped, in whichever process they arrive. Once
finished, a row keeps only what a later reader needs (the message redacted, its sender masked),
and after the retention period it is deleted, with the records of what was sent.

The functions taking a ``session`` are the queries; the ones below them run each in a
transaction of its own, for the channels, which call them in worker threads.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from bot.meta import whatsapp_users
from bot.meta.webhooks import IDENTITY_CHANGE, InboundMessage, StatusUpdate
from bot.platform import db, notify
from bot.platform.db import session_scope
from bot.platform.masking import mask_user_id, pseudonym
from bot.platform.models import Base, Channel, InboxMessage, InboxState, OutboundMessage, utcnow
from bot.platform.settings import get_settings
from bot.platform.signing import derived_key
from bot.shop import audit, buyers, notifications, owners
from bot.shop.audit import AuditAction
from bot.shop.shops import conversation_id, shop_for_account

logger = logging.getLogger(__name__)

# What turn servers listen to (PostgreSQL NOTIFY): a message may be claimed.
INBOX_TOPIC = "trustguard_inbox"
_STATUS_ORDER = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}
FINISHED = (InboxState.DONE.value, InboxState.STALE.value, InboxState.FAILED.value)
UNFINISHED = (InboxState.RECEIVED.value, InboxState.PROCESSING.value)
# The ``error`` of the stale message whose buyer was sent the apology for an outage.
APOLOGISED = "stale: apology sent"
# Rows deleted per transaction, so that pruning a large table never holds it long.
PRUNE_BATCH = 500


class Apology(str, enum.Enum):
    """Whether the buyer of a stale message is told it was missed."""

    OWED = "owed"
    # One per outage: an apology sent after this message was covers it.
    SENT_ALREADY = "sent already"
    # Meta takes free-form messages only within 24 hours of the buyer's last message.
    WINDOW_CLOSED = "customer service window closed"


def accept(
    session: Session,
    *,
    shop_id: str,
    channel: str,
    account_id: str,
    platform_message_id: str,
    sender: str,
    message: dict[str, Any],
    sent_at: dt.datetime,
    state: InboxState = InboxState.RECEIVED,
) -> int | None:
    """Store an inbound message; None when it was already stored (a redelivery). A message no
    turn will answer is stored ``done``, for its key alone."""
    row = InboxMessage(
        shop_id=shop_id,
        channel=channel,
        account_id=account_id,
        platform_message_id=platform_message_id,
        sender=sender,
        message=message,
        sent_at=sent_at,
        state=state.value,
        finished_at=None if state is InboxState.RECEIVED else utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row.id


def claim_next(
    session: Session, worker: str, lease: dt.timedelta, channels: tuple[str, ...]
) -> InboxMessage | None:
    """Take the oldest message a turn may answer now, for ``worker``, until ``lease`` has passed
    (``renew`` extends it). A message waits while an earlier one of its conversation is
    unfinished, on any server, so a conversation's turns run one at a time in arrival order.

    On PostgreSQL, concurrent claimers skip each other's candidate rows (``SKIP LOCKED``); the
    conditional update then makes the claim exact on SQLite too."""
    now = utcnow()
    candidate = (
        sa.select(InboxMessage.id)
        .where(InboxMessage.channel.in_(channels), _claimable(now), _first_of_its_conversation())
        .order_by(InboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=InboxMessage)
    )
    inbox_id = session.execute(candidate).scalar()
    if inbox_id is None:
        return None
    taken = session.execute(
        sa.update(InboxMessage)
        .where(InboxMessage.id == inbox_id, _claimable(now))
        .values(
            state=InboxState.PROCESSING.value,
            claimed_at=now,
            claimed_by=worker,
            lease_until=now + lease,
            attempts=InboxMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        return None
    return session.get(InboxMessage, inbox_id, populate_existing=True)


def _first_of_its_conversation() -> sa.sql.ColumnElement:
    """No earlier message of the same conversation is waiting or being answered."""
    earlier = aliased(InboxMessage)
    return ~sa.exists().where(
        earlier.shop_id == InboxMessage.shop_id,
        earlier.channel == InboxMessage.channel,
        earlier.sender == InboxMessage.sender,
        earlier.state.in_(UNFINISHED),
        earlier.id < InboxMessage.id,
    )


def _claimable(now: dt.datetime) -> sa.sql.ColumnElement:
    """Not yet taken, or taken by a worker whose lease ran out (it died or hung)."""
    return sa.or_(
        InboxMessage.state == InboxState.RECEIVED.value,
        sa.and_(
            InboxMessage.state == InboxState.PROCESSING.value,
            InboxMessage.lease_until < now,
        ),
    )


def renew(session: Session, inbox_id: int, worker: str, lease: dt.timedelta) -> bool:
    """Extend the worker's claim; False when it no longer holds it (taken over or finished)."""
    renewed = session.execute(
        sa.update(InboxMessage)
        .where(
            InboxMessage.id == inbox_id,
            InboxMessage.claimed_by == worker,
            InboxMessage.state == InboxState.PROCESSING.value,
        )
        .values(lease_until=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )
    return renewed.rowcount == 1


def finish(session: Session, inbox_id: int, state: InboxState, error: str | None = None) -> None:
    """End a message's processing. From then on the row keeps the message redacted and its
    sender as a pseudonym: enough to match one buyer's rows, not to read their number."""
    row = session.get(InboxMessage, inbox_id)
    if row is None:
        return
    if row.finished_at is None:
        row.message = InboundMessage.from_json(row.message).redacted().to_json()
        row.sender = sender_pseudonym(row.sender)
    row.state, row.finished_at, row.error = state.value, utcnow(), error


def sender_pseudonym(sender: str) -> str:
    """How a finished row names its sender."""
    return pseudonym(sender, _pseudonym_key(get_settings().otp_secret))


@functools.cache
def _pseudonym_key(secret: str) -> bytes:
    return derived_key(secret, "inbox-sender")


def finish_stale(session: Session, inbox_id: int, window: dt.timedelta) -> Apology:
    """Finish a message skipped as stale, and say whether its buyer is owed the apology: not
    when one was sent since this message was (one per outage), nor outside the customer service
    ``window``. The answer is recorded before it is acted on, so that a restart never repeats it;
    the caller holds the conversation's lock, so that no other server answers meanwhile."""
    row = session.execute(sa.select(InboxMessage).where(InboxMessage.id == inbox_id)).scalar_one()
    covered = session.execute(
        sa.select(
            sa.exists().where(
                InboxMessage.state == InboxState.STALE.value,
                InboxMessage.shop_id == row.shop_id,
                InboxMessage.channel == row.channel,
                InboxMessage.sender == sender_pseudonym(row.sender),
                InboxMessage.error == APOLOGISED,
                InboxMessage.finished_at >= row.sent_at,
            )
        )
    ).scalar()
    if covered:
        apology = Apology.SENT_ALREADY
    elif utcnow() - row.sent_at >= window:
        apology = Apology.WINDOW_CLOSED
    else:
        apology = Apology.OWED
    finish(session, inbox_id, InboxState.STALE, APOLOGISED if apology is Apology.OWED else None)
    return apology


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


# Each in a transaction of its own, for the channels.


@dataclass(frozen=True)
class Claimed:
    """A message this worker now holds: process it, then ``close`` it. ``key`` names the
    sender's conversation (``shop:channel:key``)."""

    inbox_id: int
    shop_id: str
    channel: str
    key: str
    message: InboundMessage
    sent_at: dt.datetime
    # Its turn replied already, on a server that died before finishing it.
    replied: bool = False


def store_webhook(
    channel: str, messages: list[InboundMessage], statuses: list[StatusUpdate]
) -> list[tuple[int, str]]:
    """Inbox the messages of known accounts and apply the statuses, in one transaction; the
    (inbox id, conversation id) of each message stored now that a turn must answer
    (redeliveries and notices are not)."""
    accepted: list[tuple[int, str]] = []
    with session_scope() as session:
        # Two webhooks of one sender (a redelivery racing its original, on two servers) would
        # each make the new buyer: the second waits for the first and finds it. In one order,
        # so that two batches never wait for each other.
        for sender in sorted({message.sender for message in messages}):
            db.lock_for_transaction(session, f"inbox-sender:{channel}:{sender}")
        shops: dict[str, str | None] = {}
        for message in messages:
            if message.account_id not in shops:
                shop = shop_for_account(session, channel, message.account_id)
                shops[message.account_id] = shop.id if shop else None
            shop_id = shops[message.account_id]
            if shop_id is None:
                logger.warning(
                    "message for an unknown account acknowledged",
                    extra={"channel": channel, "account_id": message.account_id},
                )
                continue
            stored = _store_message(session, shop_id, channel, message)
            if stored is not None:
                accepted.append(stored)
        for status in statuses:
            _apply_status(session, channel, status)
        if accepted:
            notify.announce(session, INBOX_TOPIC)
    return accepted


def _store_message(
    session: Session, shop_id: str, channel: str, message: InboundMessage
) -> tuple[int, str] | None:
    """Store one message under its conversation's key, binding what it shows of the sender
    first; returns what a turn must answer."""
    key = (
        message.sender
        if message.kind == IDENTITY_CHANGE
        else _conversation_key(session, shop_id, channel, message)
    )
    sent_at = dt.datetime.fromtimestamp(message.timestamp, dt.timezone.utc).replace(tzinfo=None)
    inbox_id = accept(
        session,
        shop_id=shop_id,
        channel=channel,
        account_id=message.account_id,
        platform_message_id=message.message_id,
        sender=key,
        message=message.to_json(),
        sent_at=sent_at,
        state=InboxState.RECEIVED if message.answered else InboxState.DONE,
    )
    if inbox_id is None:
        logger.info("redelivered message dropped", extra={"channel": channel})
        return None
    if message.identity_change is not None and message.whatsapp is not None:
        whatsapp_users.apply_identity_change(
            session, shop_id, message.whatsapp, message.identity_change
        )
    if not message.answered:
        logger.info(
            "notice recorded, not answered",
            extra={"channel": channel, "shop_id": shop_id, "kind": message.kind},
        )
        return None
    notifications.someone_wrote(session, shop_id, channel, key, sent_at)
    return inbox_id, conversation_id(shop_id, channel, key)


def _conversation_key(session: Session, shop_id: str, channel: str, message: InboundMessage) -> str:
    """The key of the sender's conversation: their identity's, made on first contact."""
    if channel == Channel.WHATSAPP and message.whatsapp is not None:
        if owners.owner_of(session, shop_id, message.whatsapp.wa_id):
            # An owner writing to their own shop is not a buyer (connectors.meta.owners).
            return message.whatsapp.wa_id or message.sender
        identity = whatsapp_users.identity_of_sender(
            session, shop_id, message.whatsapp, message.sender_name
        )
        return identity.key
    buyer, created = buyers.get_or_create_buyer(
        session, shop_id, channel, message.sender, message.sender_name
    )
    if created:
        audit.record(session, shop_id, AuditAction.BUYER_REGISTERED, buyer, channel=channel)
    return message.sender


def _apply_status(session: Session, channel: str, status: StatusUpdate) -> None:
    if status.recipient is not None:
        shop = shop_for_account(session, channel, status.account_id)
        if shop is not None:
            whatsapp_users.learn_pair(
                session, shop.id, status.recipient.wa_id, status.recipient.user_id
            )
    code, title = status.errors[0] if status.errors else (None, None)
    known = record_status(
        session,
        channel=channel,
        platform_message_id=status.message_id,
        status=status.status,
        error_code=code,
        error_title=title,
    )
    if status.status == "failed" or not known:
        logger.info(
            "delivery status",
            extra={"channel": channel, "status": status.status, "code": code, "known": known},
        )


def take_next(worker: str, lease: dt.timedelta, channels: tuple[str, ...]) -> Claimed | None:
    """The next message for ``worker`` to answer, claimed; None when there is none now."""
    with session_scope() as session:
        row = claim_next(session, worker, lease, channels)
        if row is None:
            return None
        message = InboundMessage.from_json(row.message)
        return Claimed(
            row.id,
            row.shop_id,
            row.channel,
            row.sender,
            message,
            row.sent_at,
            replied=row.replied_at is not None,
        )


def mark_replied(inbox_id: int) -> None:
    """The message's turn has sent its first reply."""
    with session_scope() as session:
        session.execute(
            sa.update(InboxMessage)
            .where(InboxMessage.id == inbox_id, InboxMessage.replied_at.is_(None))
            .values(replied_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def extend(inbox_id: int, worker: str, lease: dt.timedelta) -> bool:
    with session_scope() as session:
        return renew(session, inbox_id, worker, lease)


def close(inbox_id: int, state: InboxState, error: str | None = None) -> None:
    """Finish the message; the next one of its conversation may now be claimed, on any server."""
    with session_scope() as session:
        finish(session, inbox_id, state, error)
        notify.announce(session, INBOX_TOPIC)


def close_stale(inbox_id: int, window: dt.timedelta) -> Apology:
    with session_scope() as session:
        return finish_stale(session, inbox_id, window)


def record_send(
    shop_id: str,
    channel: str,
    account_id: str,
    recipient: str,
    platform_message_id: str | None,
    error_code: int | None = None,
    error_title: str | None = None,
) -> None:
    """Every send is kept, failed ones with their error, so statuses can be joined to it."""
    with session_scope() as session:
        session.add(
            _outbound(
                shop_id,
                channel,
                account_id,
                recipient,
                platform_message_id,
                error_code,
                error_title,
            )
        )


def record_unsendable(
    shop_id: str, channel: str, account_id: str, recipient: str, reason: str
) -> None:
    """A reply that could not even be tried (the shop has no account or token), as one failed
    send and one audit row, in one transaction."""
    with session_scope() as session:
        session.add(_outbound(shop_id, channel, account_id, recipient, None, None, reason))
        audit.record(session, shop_id, AuditAction.REPLY_UNSENDABLE, channel=channel, reason=reason)


def _outbound(
    shop_id: str,
    channel: str,
    account_id: str,
    recipient: str,
    platform_message_id: str | None,
    error_code: int | None,
    error_title: str | None,
) -> OutboundMessage:
    return OutboundMessage(
        shop_id=shop_id,
        channel=channel,
        account_id=account_id,
        recipient=mask_user_id(recipient),
        platform_message_id=platform_message_id,
        status="failed" if platform_message_id is None else "accepted",
        error_code=error_code,
        error_title=error_title,
    )


def recent_failures(
    session: Session, shop_id: str, since: dt.datetime
) -> list[tuple[str, str, int]]:
    """(channel, reason, count) of the shop's sends that failed since then, most first."""
    count = sa.func.count(OutboundMessage.id)
    rows = session.execute(
        sa.select(OutboundMessage.channel, OutboundMessage.error_title, count)
        .where(
            OutboundMessage.shop_id == shop_id,
            OutboundMessage.status == "failed",
            OutboundMessage.created_at > since,
        )
        .group_by(OutboundMessage.channel, OutboundMessage.error_title)
        .order_by(count.desc())
    ).all()
    return [(channel, reason or "unknown", n) for channel, reason, n in rows]


def prune(
    retention: dt.timedelta,
    batch: int = PRUNE_BATCH,
    stopping: Callable[[], bool] = lambda: False,
) -> tuple[int, int]:
    """Delete the finished messages and the delivery records older than ``retention``, ``batch``
    rows per transaction, until done or ``stopping()`` after a batch; (messages, delivery records)
    deleted. Unfinished messages are kept whatever their age. Safe to run in several processes at
    once: a row is deleted once."""
    cutoff = utcnow() - retention
    messages = _delete_in_batches(
        InboxMessage,
        InboxMessage.id,
        sa.and_(InboxMessage.state.in_(FINISHED), InboxMessage.received_at < cutoff),
        batch,
        stopping,
    )
    sends = _delete_in_batches(
        OutboundMessage, OutboundMessage.id, OutboundMessage.created_at < cutoff, batch, stopping
    )
    return messages, sends


def _delete_in_batches(
    table: type[Base],
    key: sa.Column,
    condition: sa.sql.ColumnElement,
    batch: int,
    stopping: Callable[[], bool],
) -> int:
    """Walks the primary key upwards, each batch from where the last one ended, so a batch never
    reads again what an earlier one passed; a short batch means nothing is left."""
    deleted, after = 0, 0
    while True:
        with session_scope() as session:
            ids = (
                session.execute(
                    sa.select(key).where(key > after, condition).order_by(key).limit(batch)
                )
                .scalars()
                .all()
            )
            if ids:
                deleted += session.execute(
                    sa.delete(table)
                    .where(key.in_(ids), condition)
                    .execution_options(synchronize_session=False)
                ).rowcount
        if len(ids) < batch or stopping():
            return deleted
        after = ids[-1]
