"""An owner in WhatsApp: the alerts they get about their shop's orders, and the commands they
send it (``orders``, ``order ORD-…``, ``shipped ORD-…``, ``delivered ORD-…``, ``help``).

Commands are read word for word, with no NLU: an owner's message is never a buyer's, and a
command either does what it says or answers why not.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.masking import mask_user_id
from bot.platform.models import Buyer, Order, OrderStatus, Receipt, ReceiptStatus, Shop
from bot.shop import buyers, order_changes, orders
from bot.shop.addresses import format_address
from bot.shop.money import format_naira
from bot.shop.notice_templates import NoticeKind
from bot.shop.order_ids import normalize_order_id

# Nigeria's time (West Africa Time, no daylight saving): what "today" means to an owner.
SHOP_TIME = dt.timezone(dt.timedelta(hours=1), "WAT")
MAX_LISTED = 20
HELP = (
    "Commands for your shop:\n"
    "orders: today's pending and confirmed orders\n"
    "order ORD-…: one order\n"
    "shipped ORD-…: mark an order shipped (the buyer is told)\n"
    "delivered ORD-…: mark an order delivered (the buyer is told)"
)
_MOVES = {"shipped": OrderStatus.SHIPPED.value, "delivered": OrderStatus.DELIVERED.value}
_OPEN = (OrderStatus.PENDING.value, OrderStatus.CONFIRMED.value)


def alert_text(kind: NoticeKind, values: dict[str, str]) -> str:
    """The owner's message about one order (``values``: ``notifications.values``)."""
    order = f"{values['order_id']} ({values['description']}, {values['amount']})"
    if kind is NoticeKind.OWNER_ORDER_CONFIRMED:
        address = f"\nDeliver to: {values['address']}" if values["address"] != "-" else ""
        return (
            f"✅ {values['buyer']} confirmed {order}.{address}\n"
            f'Reply "shipped {values["order_id"]}" once it is on its way.'
        )
    if kind is NoticeKind.OWNER_ORDER_CANCELLED:
        return f"❌ {values['buyer']} cancelled {order}. Reason: {values['reason']}"
    if kind is NoticeKind.OWNER_RECEIPT_RECEIVED:
        verdict = values["verdict"] if values["verdict"] != "-" else "not checked"
        return f"🧾 {values['buyer']} sent a receipt for {order}. Check: {verdict}."
    raise ValueError(f"{kind.value} is not an owner's alert")


def answer(session: Session, shop: Shop, owner_phone: str, text: str) -> str:
    """The reply to one message from an owner of ``shop``."""
    words = text.strip().split()
    command = words[0].lower() if words else "help"
    typed_id = words[1] if len(words) > 1 else ""
    if command == "orders" and len(words) == 1:
        return _todays_orders(session, shop)
    if command == "order" and len(words) == 2:
        order = _order(session, shop, typed_id)
        return _describe(session, order) if order else _not_found(typed_id)
    if command in _MOVES and len(words) == 2:
        order = _order(session, shop, typed_id)
        if order is None:
            return _not_found(typed_id)
        return _move(session, order, _MOVES[command], owner_phone)
    return HELP


def _order(session: Session, shop: Shop, typed: str) -> Order | None:
    order_id = normalize_order_id(typed)
    return orders.get_shop_order(session, shop.id, order_id) if order_id else None


def _not_found(typed: str) -> str:
    return f'No order {typed} in your shop. Send "orders" to see today\'s.'


def _move(session: Session, order: Order, status: str, owner_phone: str) -> str:
    before = order.status
    change = order_changes.move(session, order, status, by=f"owner {mask_user_id(owner_phone)}")
    if change is orders.Change.DONE:
        return f"{order.id} is now {status}. The buyer is told."
    if change is orders.Change.ALREADY:
        return f"{order.id} is already {status}."
    allowed = ", ".join(sorted(orders.ALLOWED_TRANSITIONS[before])) or "nothing"
    return f"{order.id} is {before}: it can become {allowed}, not {status}."


def _todays_orders(session: Session, shop: Shop) -> str:
    local_midnight = dt.datetime.now(SHOP_TIME).replace(hour=0, minute=0, second=0, microsecond=0)
    since = local_midnight.astimezone(dt.timezone.utc).replace(tzinfo=None)
    found = list(
        session.execute(
            sa.select(Order)
            .where(Order.shop_id == shop.id, Order.status.in_(_OPEN), Order.created_at >= since)
            .order_by(Order.created_at, Order.id)
        ).scalars()
    )
    if not found:
        return "No pending or confirmed orders today."
    counts = ", ".join(f"{sum(o.status == s for o in found)} {s}" for s in _OPEN)
    lines = [
        f"{o.id} {o.status} {format_naira(o.amount_kobo)} {o.description}"
        for o in found[:MAX_LISTED]
    ]
    more = [f"…and {len(found) - MAX_LISTED} more"] if len(found) > MAX_LISTED else []
    return "\n".join([f"Today: {counts}", *lines, *more])


def _describe(session: Session, order: Order) -> str:
    buyer = session.get(Buyer, order.buyer_id)
    receipts = session.execute(
        sa.select(sa.func.count(Receipt.id)).where(
            Receipt.shop_id == order.shop_id,
            Receipt.order_id == order.id,
            Receipt.status == ReceiptStatus.RECEIVED.value,
        )
    ).scalar_one()
    lines = [
        f"{order.id}: {order.status}, {format_naira(order.amount_kobo)}",
        order.description,
        f"Buyer: {(buyer.display_name or buyers.label(buyer)) if buyer else '-'}",
        f"Receipts: {receipts}",
        f"Last change: {order.updated_at:%d %b %Y, %H:%M} UTC",
    ]
    if order.delivery_address:
        lines.append(f"Deliver to: {format_address(order.delivery_address)}")
    if order.cancel_reason:
        lines.append(f"Cancelled: {order.cancel_reason}")
    return "\n".join(lines)
