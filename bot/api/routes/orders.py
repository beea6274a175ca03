"""Orders: made by the shop's system for a buyer, listed, read, and moved along."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.api import schemas
from bot.api.errors import ApiError, invalid, not_found
from bot.api.operations import Call, Reply, operation
from bot.api.pages import page
from bot.platform.models import Buyer, Channel, Order
from bot.platform.phones import InvalidPhone, normalise_phone
from bot.shop import buyers, order_changes, orders
from bot.shop.documents import order_document
from bot.shop.order_ids import normalize_order_id

ORDERS = ("orders",)


def shop_order(session: Session, call: Call) -> Order:
    """The order of the path, if it is this shop's: another shop's is as missing as none."""
    order_id = normalize_order_id(call.params["order_id"])
    order = orders.get_shop_order(session, call.shop_id, order_id) if order_id else None
    if order is None:
        raise not_found(f"Order {call.params['order_id']}")
    return order


@operation(
    "POST",
    "/orders",
    "Make an order for a buyer",
    body=schemas.NewOrder,
    answer=schemas.Order,
    status=201,
    errors=(409,),
    idempotent=True,
    tags=ORDERS,
)
def create_order(call: Call, session: Session) -> dict[str, Any]:
    """A pending order for the buyer with this phone number (whoever proves the number sees it),
    buyer id, or Instagram user id. The buyer is told at once on their channel. With an
    ``Idempotency-Key``, a retried request gets the same order; ``reference`` (the shop's own id
    of the order) is one order's only."""
    new: schemas.NewOrder = call.body
    buyer = _buyer(session, call.shop_id, new.buyer)
    try:
        order = orders.create_order(
            session, buyer, new.amount_kobo, new.description, reference=new.reference
        )
    except orders.DuplicateReference as error:
        raise ApiError(409, "duplicate_reference", str(error)) from None
    except orders.OrderError as error:
        raise invalid(str(error)) from None
    order_changes.created(session, order, by=call.caller.label)
    return order_document(session, order)


def _buyer(session: Session, shop_id: str, who: Any) -> Buyer:
    if isinstance(who, schemas.BuyerByPhone):
        try:
            phone = normalise_phone(who.phone)
        except InvalidPhone as error:
            raise invalid(str(error), [{"field": "buyer.phone", "problem": str(error)}]) from None
        return buyers.buyer_for_phone(session, shop_id, phone)[0]
    if isinstance(who, schemas.BuyerById):
        buyer = session.get(Buyer, who.buyer_id)
        if buyer is None or buyer.shop_id != shop_id:
            raise invalid(
                f"The shop has no buyer {who.buyer_id}.",
                [{"field": "buyer.buyer_id", "problem": "no such buyer in this shop"}],
            )
        return buyer
    return buyers.get_or_create_buyer(session, shop_id, Channel.INSTAGRAM, who.instagram_user_id)[0]


@operation(
    "GET",
    "/orders",
    "List orders",
    query=schemas.OrderQuery,
    answer=schemas.page_of(schemas.Order),
    tags=ORDERS,
)
def list_orders(call: Call, session: Session) -> dict[str, Any]:
    """The shop's orders, newest first, by status, buyer, or made since a time."""
    query: schemas.OrderQuery = call.query
    select = sa.select(Order).where(Order.shop_id == call.shop_id)
    if query.status:
        select = select.where(Order.status == query.status)
    if query.buyer_id:
        select = select.where(Order.buyer_id == query.buyer_id)
    if query.since:
        since = query.since
        if since.tzinfo is not None:
            since = since.astimezone(dt.timezone.utc).replace(tzinfo=None)
        select = select.where(Order.created_at >= since)
    rows, cursor = page(session, select, Order, query.cursor, query.limit)
    return {"data": [order_document(session, order) for order in rows], "next_cursor": cursor}


@operation(
    "GET", "/orders/{order_id}", "Read an order", answer=schemas.Order, errors=(404,), tags=ORDERS
)
def get_order(call: Call, session: Session) -> dict[str, Any]:
    return order_document(session, shop_order(session, call))


@operation(
    "POST",
    "/orders/{order_id}/status",
    "Move an order along",
    body=schemas.StatusChange,
    answer=schemas.Order,
    errors=(404, 409),
    tags=ORDERS,
)
def change_status(call: Call, session: Session) -> Reply:
    """``shipped``, ``delivered``, or ``cancelled`` with a reason, as the order's lifecycle
    allows (pending → confirmed → shipped → delivered; cancelled while pending or confirmed);
    anything else is a 409 saying why. Asking for the status an order already has changes
    nothing. The buyer is told of each change."""
    change: schemas.StatusChange = call.body
    order = shop_order(session, call)
    before = order.status
    moved = order_changes.move(
        session, order, change.status, by=call.caller.label, reason=change.reason
    )
    if moved is orders.Change.NOT_ALLOWED:
        allowed = ", ".join(sorted(orders.ALLOWED_TRANSITIONS[before])) or "nothing"
        raise ApiError(
            409,
            "transition_not_allowed",
            f"Order {order.id} is {before}: it can become {allowed}, not {change.status}.",
        )
    return Reply(order_document(session, order))
