"""The inbox keeps what it needs only while it needs it: a processed message is redacted and its
sender masked, the stale-message apology is owed once per outage and only within Meta's 24-hour
window, and processed messages and delivery records are pruned after the retention period.
Every test runs on a SQLite file and on a throwaway database of the machine's PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from bot.meta import inbox
from bot.meta.inbox import Apology
from bot.meta.webhooks import TEXT, InboundMessage, parse_instagram, parse_whatsapp
from bot.platform import db
from bot.platform.models import AuditEvent, InboxMessage, InboxState, OutboundMessage, utcnow
from bot.platform.settings import MIN_INBOX_RETENTION_DAYS
from bot.shop import audit
from bot.shop.audit import AuditAction
from tests.helpers.meta import (
    BUYER,
    PHONE_NUMBER_ID,
    ig_event,
    instagram,
    wa_text,
    whatsapp,
)

SECRETS = {
    "code": "K7#M@P2Q",
    "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "signed query": "X-Amz-Signature=abc123",
    "phone number": "08031234567",
}
TYPED = (
    f"my code is {SECRETS['code']}, token {SECRETS['token']}, form "
    f"https://bucket.s3.amazonaws.com/x?{SECRETS['signed query']} call {SECRETS['phone number']}"
)
OTHER_BUYER = "2348099990000"
WINDOW = dt.timedelta(hours=24)
RETENTION = dt.timedelta(days=30)
HOUR = dt.timedelta(hours=1)
LEASE = dt.timedelta(seconds=30)
CHANNELS = ("whatsapp", "instagram")


pytestmark = pytest.mark.usefixtures("shop_on_each_database")


def row(inbox_id: int) -> InboxMessage:
    with db.session_scope() as session:
        return session.get(InboxMessage, inbox_id)


def stored_whatsapp(text: str, sender: str = BUYER) -> int:
    [(inbox_id, _)] = inbox.store_webhook(
        "whatsapp", *parse_whatsapp(whatsapp([wa_text(text, sender=sender)]))
    )
    return inbox_id


def take(inbox_id: int) -> inbox.Claimed:
    """Claimed as a turn server claims: the oldest message waiting, here this one."""
    claimed = inbox.take_next("worker-1", LEASE, CHANNELS)
    assert claimed is not None and claimed.inbox_id == inbox_id
    return claimed


def end(inbox_id: int, state: InboxState) -> None:
    """Processed as the channel processes it: claimed, then closed in this state."""
    take(inbox_id)
    if state is InboxState.STALE:
        inbox.close_stale(inbox_id, WINDOW)
    else:
        inbox.close(inbox_id, state)


def backdate(table: type, key: int, **ages: dt.timedelta) -> None:
    """As if the row's times (``received_at=``, ``finished_at=``...) were that long ago."""
    values = {column: utcnow() - age for column, age in ages.items()}
    with db.session_scope() as session:
        session.execute(sa.update(table).where(table.id == key).values(**values))


# Redaction


@pytest.mark.parametrize("state", [InboxState.DONE, InboxState.FAILED, InboxState.STALE])
def test_a_processed_message_keeps_no_code_token_signed_url_phone_number_or_name(
    state: InboxState,
) -> None:
    inbox_id = stored_whatsapp(TYPED)
    end(inbox_id, state)
    kept = row(inbox_id)
    written = json.dumps(kept.message) + kept.sender
    for secret in [*SECRETS.values(), BUYER, "Ada"]:
        assert secret not in written
    assert kept.state == state.value
    assert kept.sender == inbox.sender_pseudonym(BUYER)
    assert kept.sender.startswith("***5678:")
    assert kept.message["text"].startswith("my code is [redacted], token [redacted], form")
    assert {key: kept.message[key] for key in ("kind", "message_id", "sender", "sender_name")} == {
        "kind": TEXT,
        "message_id": kept.platform_message_id,
        "sender": "***5678",
        "sender_name": None,
    }


def test_an_unprocessed_message_keeps_what_processing_it_needs() -> None:
    """What resumes after a restart reads the message and its sender in full."""
    inbox_id = stored_whatsapp(TYPED)
    waiting = row(inbox_id)
    assert (waiting.sender, waiting.message["text"], waiting.message["sender_name"]) == (
        BUYER,
        TYPED,
        "Ada",
    )
    claimed = take(inbox_id)
    assert (claimed.key, claimed.message.text) == (BUYER, TYPED)


def test_a_processed_attachment_keeps_no_signed_url() -> None:
    url = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1&signature=AbCdEf"
    event = ig_event({"attachments": [{"type": "image", "payload": {"url": url}}]})
    [(inbox_id, _)] = inbox.store_webhook("instagram", *parse_instagram(instagram([event])))
    end(inbox_id, InboxState.DONE)
    assert row(inbox_id).message["media"]["url"] == (
        "https://lookaside.fbsbx.com/ig_messaging_cdn/?[redacted]"
    )


# The apology for stale messages


def stale(sender: str = BUYER, age: dt.timedelta = 2 * HOUR) -> int:
    """A message of the backlog an outage left."""
    message_id = f"wamid.{uuid.uuid4().hex}"
    sent_at = utcnow() - age
    message = InboundMessage(
        channel="whatsapp",
        account_id=PHONE_NUMBER_ID,
        sender=sender,
        message_id=message_id,
        timestamp=sent_at.replace(tzinfo=dt.timezone.utc).timestamp(),
        kind=TEXT,
        original_type="text",
        text="hello?",
    )
    with db.session_scope() as session:
        inbox_id = inbox.accept(
            session,
            shop_id="mama-put",
            channel="whatsapp",
            account_id=PHONE_NUMBER_ID,
            platform_message_id=message_id,
            sender=sender,
            message=message.to_json(),
            sent_at=sent_at,
        )
    assert inbox_id is not None
    return inbox_id


def test_a_backlog_owes_each_buyer_one_apology() -> None:
    backlog = [stale(age=3 * HOUR - n * dt.timedelta(minutes=5)) for n in range(5)]
    other = stale(OTHER_BUYER)
    assert [inbox.close_stale(i, WINDOW) for i in backlog] == [Apology.OWED] + 4 * [
        Apology.SENT_ALREADY
    ]
    assert inbox.close_stale(other, WINDOW) is Apology.OWED
    # Meta redelivers a message of the same outage hours later: the apology covers it.
    assert inbox.close_stale(stale(age=4 * HOUR), WINDOW) is Apology.SENT_ALREADY
    assert [row(i).error for i in [*backlog, other]] == [inbox.APOLOGISED, *4 * [None]] + [
        inbox.APOLOGISED
    ]


def test_another_outage_owes_another_apology() -> None:
    first = stale(age=6 * HOUR)
    assert inbox.close_stale(first, WINDOW) is Apology.OWED
    backdate(InboxMessage, first, finished_at=4 * HOUR)  # that outage ended 4 hours ago
    assert inbox.close_stale(stale(age=2 * HOUR), WINDOW) is Apology.OWED


def test_no_apology_outside_the_customer_service_window() -> None:
    too_old = stale(age=25 * HOUR)
    assert inbox.close_stale(too_old, WINDOW) is Apology.WINDOW_CLOSED
    assert row(too_old).error is None
    # A later message of the same backlog, within the window, gets it.
    assert inbox.close_stale(stale(age=2 * HOUR), WINDOW) is Apology.OWED


# Pruning


def message_aged(state: InboxState, age: dt.timedelta) -> int:
    """From a buyer of its own, so that no earlier unfinished message holds it back."""
    inbox_id = stored_whatsapp("message", sender=f"234803{uuid.uuid4().int % 10**7:07d}")
    if state is InboxState.PROCESSING:
        take(inbox_id)
    elif state is not InboxState.RECEIVED:
        end(inbox_id, state)
    backdate(InboxMessage, inbox_id, received_at=age)
    return inbox_id


def send_aged(age: dt.timedelta) -> int:
    inbox.record_send("mama-put", "whatsapp", PHONE_NUMBER_ID, BUYER, f"wamid.{uuid.uuid4().hex}")
    with db.session_scope() as session:
        send_id = session.execute(sa.select(sa.func.max(OutboundMessage.id))).scalar_one()
    backdate(OutboundMessage, send_id, created_at=age)
    return send_id


def ids(table: type) -> set[int]:
    with db.session_scope() as session:
        return set(session.execute(sa.select(table.id)).scalars())


def test_pruning_deletes_exactly_the_processed_messages_and_sends_older_than_retention() -> None:
    old, young = RETENTION + HOUR, RETENTION - HOUR
    processed = (InboxState.DONE, InboxState.STALE, InboxState.FAILED)
    gone = {message_aged(state, old) for state in processed}
    kept = {message_aged(state, young) for state in processed}
    # Claimed first: a claim takes the oldest message waiting.
    unfinished = (InboxState.PROCESSING, InboxState.RECEIVED)
    assert set(processed + unfinished) == set(InboxState)
    kept |= {message_aged(state, 3 * RETENTION) for state in unfinished}
    sends_gone, sends_kept = {send_aged(old), send_aged(old)}, {send_aged(young)}
    before = ids(AuditEvent)
    with db.session_scope() as session:
        audit.record(session, "mama-put", AuditAction.REPLY_UNSENDABLE, reason="test")
    [trail] = ids(AuditEvent) - before
    backdate(AuditEvent, trail, created_at=3 * RETENTION)

    assert inbox.prune(RETENTION) == (len(gone), len(sends_gone))
    assert ids(InboxMessage) == kept
    assert ids(OutboundMessage) == sends_kept
    assert ids(AuditEvent) == before | {trail}  # the shop's trail is kept
    assert inbox.prune(RETENTION) == (0, 0)


def test_pruning_in_small_batches_reaches_every_old_row() -> None:
    old = RETENTION + HOUR
    ages = [old, RETENTION - HOUR, old, old, old, old]
    made = [message_aged(InboxState.DONE, age) for age in ages]
    waiting = message_aged(InboxState.RECEIVED, old)
    assert inbox.prune(RETENTION, batch=2) == (5, 0)
    assert ids(InboxMessage) == {made[1], waiting}


def test_a_redelivery_within_the_retention_is_still_dropped_after_pruning() -> None:
    payload = whatsapp([wa_text("confirm")])
    [(inbox_id, _)] = inbox.store_webhook("whatsapp", *parse_whatsapp(payload))
    end(inbox_id, InboxState.DONE)
    # Meta's last redelivery comes 7 days after the message; the shortest retention is longer.
    backdate(InboxMessage, inbox_id, received_at=dt.timedelta(days=7, hours=23))
    assert inbox.prune(dt.timedelta(days=MIN_INBOX_RETENTION_DAYS)) == (0, 0)
    assert inbox.store_webhook("whatsapp", *parse_whatsapp(payload)) == []


def test_pruning_asked_to_stop_ends_after_the_batch_in_progress() -> None:
    made = [message_aged(InboxState.DONE, RETENTION + HOUR) for _ in range(5)]
    assert inbox.prune(RETENTION, batch=2, stopping=lambda: True) == (2, 0)
    assert ids(InboxMessage) == set(made[2:])
