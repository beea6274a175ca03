"""Receipts: files kept as evidence, bound to the buyer who sent them and to one order, checked.

A receipt sent in the chat is stored and recorded as the sender's (``incoming``) before the
assistant sees it, then attached to an order the buyer names, once. A receipt uploaded through
the upload page is attached at once to the order of its link. Either way it is checked
(``receipt_checks``), its verdict kept with it and written to the audit trail.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.db import session_scope
from bot.platform.models import (
    Buyer,
    InboxMessage,
    Order,
    Receipt,
    ReceiptSource,
    ReceiptStatus,
    utcnow,
)
from bot.platform.storage import receipt_store
from bot.shop import order_changes
from bot.shop.buyers import find_buyer
from bot.shop.receipt_checks import Fingerprint, Verdict, fingerprint, judge

MAX_BYTES = 10 * 1024 * 1024
# What the upload page takes; WhatsApp also delivers photos sent in the chat as WebP.
UPLOAD_TYPES = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
CHAT_RECEIPT_TYPES = {**UPLOAD_TYPES, "image/webp": "webp"}


class RefusalReason(str, enum.Enum):
    NOT_YOURS = "not_yours"  # no such receipt of this buyer (or of this shop)
    ALREADY_ATTACHED = "already_attached"  # this stored receipt went to an order already
    DUPLICATE = "duplicate"  # the same file is attached to this order already


class ReceiptRefused(Exception):
    def __init__(self, reason: RefusalReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def sniff_content_type(content: bytes) -> str | None:
    """The type the bytes really are, whatever the sender declared."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def order_receipts_prefix(shop_id: str, order_id: str) -> str:
    return f"shops/{shop_id}/orders/{order_id}/receipts/"


def incoming_prefix(shop_id: str) -> str:
    return f"shops/{shop_id}/receipts/incoming/"


def store_chat_receipt(shop_id: str, inbox_id: int, content: bytes, content_type: str) -> str:
    """Keep a receipt sent in the chat (it is evidence) as its sender's, before it is attached
    to an order; its key. Slow (OCR): call it off the event loop. Raises StorageUnavailable."""
    found = fingerprint(content, content_type)
    extension = CHAT_RECEIPT_TYPES[content_type]
    key = f"{incoming_prefix(shop_id)}{inbox_id}-{found.sha256[:16]}.{extension}"
    receipt_store().put(key, content, content_type)
    with session_scope() as session:
        message = session.get(InboxMessage, inbox_id)
        buyer = find_buyer(session, shop_id, message.channel, message.sender) if message else None
        if buyer is None:
            raise ValueError(f"inbox message {inbox_id} has no buyer in shop {shop_id}")
        session.add(
            _receipt(buyer, ReceiptSource.CHAT, key, content, content_type, found),
        )
    return key


def attach_chat_receipt(session: Session, buyer: Buyer, order: Order, key: str) -> Receipt:
    """Attach the buyer's own stored chat receipt to their order, once, and check it.

    Raises ReceiptRefused for a key that is not this buyer's, a receipt attached already (an old
    "which order?" button tapped again) or a file this order has already.
    """
    receipt = session.execute(
        sa.select(Receipt).where(Receipt.shop_id == order.shop_id, Receipt.storage_key == key)
    ).scalar_one_or_none()
    if receipt is None or receipt.buyer_id != buyer.id or order.buyer_id != buyer.id:
        raise ReceiptRefused(RefusalReason.NOT_YOURS)
    if receipt.status != ReceiptStatus.INCOMING.value:
        raise ReceiptRefused(RefusalReason.ALREADY_ATTACHED)
    _refuse_duplicate(session, order, receipt.sha256)
    attached = session.execute(
        sa.update(Receipt)
        .where(Receipt.id == receipt.id, Receipt.status == ReceiptStatus.INCOMING.value)
        .values(status=ReceiptStatus.RECEIVED.value, order_id=order.id, attached_at=utcnow())
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if not attached:
        raise ReceiptRefused(RefusalReason.ALREADY_ATTACHED)
    _check(session, buyer, order, receipt)
    return receipt


DOWNLOAD_TTL = dt.timedelta(minutes=5)


def download_link(receipt: Receipt) -> tuple[str, dt.datetime] | None:
    """A link that downloads a received receipt for ``DOWNLOAD_TTL``, and when it expires; None
    when the receipt has no file yet or the store gives no links (the local directory). Raises
    ``StorageUnavailable``."""
    if receipt.status != ReceiptStatus.RECEIVED.value or not receipt.storage_key:
        return None
    url = receipt_store().download_url(receipt.storage_key, int(DOWNLOAD_TTL.total_seconds()))
    return (url, utcnow() + DOWNLOAD_TTL) if url else None


def attach_uploaded_receipt(
    session: Session,
    buyer: Buyer,
    order: Order,
    content: bytes,
    content_type: str,
    found: Fingerprint,
) -> Receipt:
    """Store a file uploaded through the upload page as a receipt of the link's order, and
    check it. Raises ReceiptRefused for a file the order has already, StorageUnavailable."""
    _refuse_duplicate(session, order, found.sha256)
    name = f"{found.sha256[:16]}-{uuid.uuid4().hex[:8]}.{UPLOAD_TYPES[content_type]}"
    key = order_receipts_prefix(order.shop_id, order.id) + name
    receipt_store().put(key, content, content_type)
    receipt = _receipt(buyer, ReceiptSource.LINK, key, content, content_type, found)
    receipt.status = ReceiptStatus.RECEIVED.value
    receipt.order_id = order.id
    receipt.attached_at = utcnow()
    session.add(receipt)
    session.flush()
    _check(session, buyer, order, receipt)
    return receipt


def _receipt(
    buyer: Buyer,
    source: ReceiptSource,
    key: str,
    content: bytes,
    content_type: str,
    found: Fingerprint,
) -> Receipt:
    return Receipt(
        shop_id=buyer.shop_id,
        buyer_id=buyer.id,
        status=ReceiptStatus.INCOMING.value,
        source=source.value,
        storage_key=key,
        content_type=content_type,
        size_bytes=len(content),
        **found.columns(),
    )


def _refuse_duplicate(session: Session, order: Order, sha256: str | None) -> None:
    duplicate = session.execute(
        sa.select(Receipt.id).where(
            Receipt.order_id == order.id,
            Receipt.status == ReceiptStatus.RECEIVED.value,
            Receipt.sha256 == sha256,
        )
    ).first()
    if duplicate is not None:
        raise ReceiptRefused(RefusalReason.DUPLICATE)


def _check(session: Session, buyer: Buyer, order: Order, receipt: Receipt) -> None:
    """Check the receipt and keep the verdict with it; then the order has received it (audit,
    the shop's event, the owners' alert: ``order_changes``)."""
    verdict = judge(session, receipt, order)
    receipt.verdict = verdict.as_json()
    receipt.flagged = verdict.flagged
    order_changes.receipt_received(session, order, buyer, receipt)


def verdict_of(receipt: Receipt) -> Verdict | None:
    return Verdict.from_json(receipt.verdict) if receipt.verdict else None


def order_receipts(session: Session, shop_id: str, order_id: str) -> list[Receipt]:
    return list(
        session.execute(
            sa.select(Receipt)
            .where(Receipt.shop_id == shop_id, Receipt.order_id == order_id)
            .order_by(Receipt.id)
        ).scalars()
    )


def shop_receipts(session: Session, shop_id: str, *, flagged_only: bool = False) -> list[Receipt]:
    """A shop's attached receipts, newest first."""
    query = sa.select(Receipt).where(
        Receipt.shop_id == shop_id, Receipt.status == ReceiptStatus.RECEIVED.value
    )
    if flagged_only:
        query = query.where(Receipt.flagged.is_(True))
    return list(session.execute(query.order_by(Receipt.id.desc())).scalars())
