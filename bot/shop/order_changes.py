"""What follows when an order is made, moves along or gets a receipt, whoever did it (the buyer
in the chat, the owner in WhatsApp, the CLI or the API): the audit row, the event for the shop's
system, and the notifications to the buyer and the owners, all in the change's transaction.

The moves themselves are ``orders.change_status``'s, with ``orders.ALLOWED_TRANSITIONS``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.platform.models import Buyer, Order, OrderStatus, Receipt
from bot.shop import audit, events, notifications, orders
from bot.shop.audit import AuditAction
from bot.shop.documents import order_document, receipt_document
from bot.shop.notice_templates import NoticeKind

# ``by`` when the buyer did it; anything else names who did it for the shop ("cli", "api …").
BUYER = "buyer"
_BUYER_NOTICES = {
    OrderStatus.SHIPPED.value: NoticeKind.ORDER_SHIPPED,
    OrderStatus.DELIVERED.value: NoticeKind.ORDER_DELIVERED,
}


def created(session: Session, order: Order, *, by: str) -> None:
    """A shop made ``order``: audited, reported, and the buyer is told."""
    session.flush()
    buyer = session.get(Buyer, order.buyer_id)
    audit.record(session, order.shop_id, AuditAction.ORDER_CREATED, buyer, order_id=order.id, by=by)
    events.emit(
        session, order.shop_id, events.ORDER_CREATED, {"order": order_document(session, order)}
    )
    notifications.notify_buyer(session, order, NoticeKind.ORDER_CREATED)


def move(
    session: Session, order: Order, status: str, *, by: str, reason: str | None = None
) -> orders.Change:
    """Move ``order`` to ``status`` if its lifecycle allows it, and if it moved, record and tell
    of it. A cancellation keeps its reason."""
    before = order.status
    change = orders.change_status(session, order, status, reason)
    if change is orders.Change.DONE:
        _moved(session, order, before, by)
    return change


def _moved(session: Session, order: Order, before: str, by: str) -> None:
    buyer = session.get(Buyer, order.buyer_id)
    by_buyer = by == BUYER
    reason = order.cancel_reason if order.status == OrderStatus.CANCELLED.value else None
    if by_buyer and order.status == OrderStatus.CONFIRMED.value:
        audit.record(session, order.shop_id, AuditAction.ORDER_CONFIRMED, buyer, order_id=order.id)
    elif by_buyer and order.status == OrderStatus.CANCELLED.value:
        audit.record(
            session,
            order.shop_id,
            AuditAction.ORDER_CANCELLED,
            buyer,
            order_id=order.id,
            reason=reason,
        )
    else:
        extra = {"reason": reason} if reason else {}
        audit.record(
            session,
            order.shop_id,
            AuditAction.ORDER_STATUS_CHANGED,
            order_id=order.id,
            before=before,
            after=order.status,
            by=by,
            **extra,
        )
    event_type = {
        OrderStatus.CONFIRMED.value: events.ORDER_CONFIRMED,
        OrderStatus.CANCELLED.value: events.ORDER_CANCELLED,
    }.get(order.status, events.ORDER_STATUS_CHANGED)
    data = {
        "order": order_document(session, order),
        "previous_status": before,
        "changed_by": BUYER if by_buyer else "shop",
    }
    events.emit(session, order.shop_id, event_type, data)
    if by_buyer and order.status == OrderStatus.CONFIRMED.value:
        notifications.notify_owners(session, order, NoticeKind.OWNER_ORDER_CONFIRMED)
    elif by_buyer and order.status == OrderStatus.CANCELLED.value:
        notifications.notify_owners(session, order, NoticeKind.OWNER_ORDER_CANCELLED, reason=reason)
    elif order.status == OrderStatus.CANCELLED.value:
        notifications.notify_buyer(session, order, NoticeKind.ORDER_CANCELLED, reason=reason)
    elif order.status in _BUYER_NOTICES:
        notifications.notify_buyer(session, order, _BUYER_NOTICES[order.status])


def receipt_received(session: Session, order: Order, buyer: Buyer, receipt: Receipt) -> None:
    """The buyer sent a receipt for ``order``, checked: audited with the verdict, reported to
    the shop's system, and the owners are told."""
    session.flush()
    document = receipt_document(receipt, None, None)
    audit.record(
        session,
        order.shop_id,
        AuditAction.RECEIPT_RECEIVED,
        buyer,
        order_id=order.id,
        source=receipt.source,
        key=receipt.storage_key,
        content_type=receipt.content_type,
        size_bytes=receipt.size_bytes,
        flagged=bool(receipt.flagged),
        verdict=document["verdict_reason"],
    )
    data = {"order": order_document(session, order), "receipt": document}
    events.emit(session, order.shop_id, events.RECEIPT_RECEIVED, data)
    notifications.notify_owners(
        session,
        order,
        NoticeKind.OWNER_RECEIPT_RECEIVED,
        receipt_id=receipt.id,
        verdict=document["verdict_reason"],
    )
