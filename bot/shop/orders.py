"""Orders and what buyers may do with them. Every lookup is scoped by shop and buyer."""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.platform.models import Buyer, Order, OrderStatus, utcnow
from bot.shop.order_ids import new_order_id

# Orders a buyer can still act on: cancel, or pay and send a receipt for.
OPEN = frozenset({OrderStatus.PENDING.value, OrderStatus.CONFIRMED.value})
ALLOWED_TRANSITIONS = {
    OrderStatus.PENDING.value: {OrderStatus.CONFIRMED.value, OrderStatus.CANCELLED.value},
    OrderStatus.CONFIRMED.value: {OrderStatus.SHIPPED.value, OrderStatus.CANCELLED.value},
    OrderStatus.SHIPPED.value: {OrderStatus.DELIVERED.value},
    OrderStatus.DELIVERED.value: set(),
    OrderStatus.CANCELLED.value: set(),
}


class OrderError(ValueError):
    """An order change that is not allowed; the message says why."""


class DuplicateReference(OrderError):
    """Another order of the shop has this reference."""


def create_order(
    session: Session,
    buyer: Buyer,
    amount_kobo: int,
    description: str,
    attempts: int = 5,
    reference: str | None = None,
) -> Order:
    """A new pending order with a fresh id (retried on the rare id collision). ``reference``,
    the shop's own id of the order, is one order's only (DuplicateReference otherwise)."""
    if amount_kobo <= 0:
        raise OrderError("amount must be positive")
    if not description.strip():
        raise OrderError("description must not be empty")
    reference = (reference or "").strip() or None
    if reference and by_reference(session, buyer.shop_id, reference) is not None:
        raise DuplicateReference(f"the shop already has an order with reference {reference!r}")
    now = utcnow()
    for _ in range(attempts):
        order = Order(
            id=new_order_id(),
            created_at=now,
            updated_at=now,
            shop_id=buyer.shop_id,
            buyer_id=buyer.id,
            amount_kobo=amount_kobo,
            description=description.strip(),
            reference=reference,
        )
        try:
            with session.begin_nested():
                session.add(order)
            return order
        except IntegrityError:
            if reference and by_reference(session, buyer.shop_id, reference) is not None:
                raise DuplicateReference(
                    f"the shop already has an order with reference {reference!r}"
                ) from None
            continue
    raise OrderError("could not allocate an order id; try again")


def by_reference(session: Session, shop_id: str, reference: str) -> Order | None:
    return session.execute(
        sa.select(Order).where(Order.shop_id == shop_id, Order.reference == reference)
    ).scalar_one_or_none()


def get_shop_order(session: Session, shop_id: str, order_id: str) -> Order | None:
    return session.execute(
        sa.select(Order).where(Order.shop_id == shop_id, Order.id == order_id)
    ).scalar_one_or_none()


def get_buyer_order(session: Session, buyer: Buyer, order_id: str) -> Order | None:
    """The buyer's own order in the buyer's shop, or None: others' orders do not exist here."""
    return session.execute(
        sa.select(Order).where(
            Order.shop_id == buyer.shop_id, Order.buyer_id == buyer.id, Order.id == order_id
        )
    ).scalar_one_or_none()


def buyer_orders(session: Session, buyer: Buyer, statuses: set | None = None) -> list[Order]:
    query = sa.select(Order).where(Order.shop_id == buyer.shop_id, Order.buyer_id == buyer.id)
    if statuses:
        query = query.where(Order.status.in_(sorted(statuses)))
    return list(session.execute(query.order_by(Order.created_at.desc(), Order.id)).scalars())


def list_shop_orders(session: Session, shop_id: str, status: str | None = None) -> list[Order]:
    query = sa.select(Order).where(Order.shop_id == shop_id)
    if status:
        query = query.where(Order.status == status)
    return list(session.execute(query.order_by(Order.created_at, Order.id)).scalars())


class Change(str, enum.Enum):
    DONE = "done"
    ALREADY = "already"
    NOT_ALLOWED = "not_allowed"


def change_status(
    session: Session, order: Order, new_status: str, reason: str | None = None
) -> Change:
    """Move an order along its lifecycle with a conditional UPDATE, so concurrent changes agree."""
    if order.status == new_status:
        return Change.ALREADY
    if new_status not in ALLOWED_TRANSITIONS.get(order.status, set()):
        return Change.NOT_ALLOWED
    values = {"status": new_status, "updated_at": utcnow()}
    if reason is not None:
        values["cancel_reason"] = reason
    updated = session.execute(
        sa.update(Order)
        .where(Order.shop_id == order.shop_id, Order.id == order.id, Order.status == order.status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(order)
    if updated.rowcount == 1:
        return Change.DONE
    return Change.ALREADY if order.status == new_status else Change.NOT_ALLOWED
