"""Telling buyers and owners what happened to an order, by Meta's rules.

A notification is queued in the transaction of the change it tells of, and a worker sends it
(``bot.meta.notices``). Where it goes is decided when it is sent: inside the 24-hour customer
service window a normal message on the channel the person last wrote on; outside it, on
WhatsApp only, the shop's approved template for that kind; with neither, it waits, recorded
with the reason, and goes as soon as the person writes again (``someone_wrote``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.models import (
    META_CHANNELS,
    Buyer,
    BuyerIdentity,
    Channel,
    Notification,
    Order,
    OrderStatus,
    OutboxState,
    Shop,
    utcnow,
)
from bot.platform.phones import phone_of_wa_id, wa_id_of_phone
from bot.shop import buyers, windows
from bot.shop.addresses import format_address
from bot.shop.money import format_naira
from bot.shop.notice_templates import NoticeKind, NoticeTemplate, templates_of
from bot.shop.owners import owner_numbers

NO_ACCOUNT = "the buyer has no WhatsApp or Instagram account the shop knows"
INSTAGRAM_CLOSED = "outside the 24-hour window; Instagram allows no message then"
_NO_VALUE = "-"


def no_template(kind: NoticeKind) -> str:
    return f"outside the 24-hour window and no WhatsApp template is set for {kind.value}"


def notify_buyer(session: Session, order: Order, kind: NoticeKind, **detail: Any) -> Notification:
    notification = Notification(
        shop_id=order.shop_id, order_id=order.id, kind=kind.value, detail=detail
    )
    session.add(notification)
    return notification


def notify_owners(
    session: Session, order: Order, kind: NoticeKind, **detail: Any
) -> list[Notification]:
    """One notification per owner number of the shop (none when it has none)."""
    shop = session.get(Shop, order.shop_id)
    queued = [
        Notification(
            shop_id=order.shop_id,
            order_id=order.id,
            kind=kind.value,
            owner_phone=phone,
            detail=detail,
        )
        for phone in (owner_numbers(shop) if shop is not None else [])
    ]
    session.add_all(queued)
    return queued


def someone_wrote(session: Session, shop_id: str, channel: str, key: str, at: dt.datetime) -> None:
    """A message from the conversation ``key`` was stored: its window opens, and what waited
    for this buyer (or owner) to write becomes due now."""
    windows.touch(session, shop_id, channel, key, at)
    waiting = sa.and_(
        Notification.shop_id == shop_id, Notification.state == OutboxState.WAITING.value
    )
    owner = phone_of_wa_id(key) if channel == Channel.WHATSAPP else None
    shop = session.get(Shop, shop_id)
    if owner is not None and shop is not None and owner in owner_numbers(shop):
        mine = Notification.owner_phone == owner
    else:
        buyer = buyers.find_buyer(session, shop_id, channel, key)
        if buyer is None:
            return
        orders = sa.select(Order.id).where(Order.shop_id == shop_id, Order.buyer_id == buyer.id)
        mine = sa.and_(Notification.owner_phone.is_(None), Notification.order_id.in_(orders))
    session.execute(
        sa.update(Notification)
        .where(waiting, mine)
        .values(state=OutboxState.PENDING.value, next_attempt_at=utcnow(), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Route:
    """Where a notification goes: a conversation (``key``) or, with none, a WhatsApp number
    (``phone``, E.164); as a normal message, or as ``template`` outside the window."""

    channel: str
    key: str | None
    phone: str | None
    template: NoticeTemplate | None


@dataclass(frozen=True)
class NotSent:
    """Why a notification cannot go now; it goes when its recipient next writes."""

    reason: str


def route(session: Session, notification: Notification, now: dt.datetime) -> Route | NotSent:
    shop = session.get(Shop, notification.shop_id)
    if shop is None:
        return NotSent("the shop no longer exists")
    kind = NoticeKind(notification.kind)
    template = templates_of(shop).get(kind)
    if notification.owner_phone:
        key = wa_id_of_phone(notification.owner_phone)
        last = windows.last_message_at(session, shop.id, Channel.WHATSAPP, key)
        if windows.is_open(last, now):
            return Route(Channel.WHATSAPP, None, notification.owner_phone, None)
        if template is None:
            return NotSent(no_template(kind))
        return Route(Channel.WHATSAPP, None, notification.owner_phone, template)
    order = session.get(Order, notification.order_id)
    buyer = session.get(Buyer, order.buyer_id) if order is not None else None
    if buyer is None:
        return NotSent("the order no longer exists")
    return _buyer_route(session, shop, buyer, kind, template, now)


def _buyer_route(
    session: Session,
    shop: Shop,
    buyer: Buyer,
    kind: NoticeKind,
    template: NoticeTemplate | None,
    now: dt.datetime,
) -> Route | NotSent:
    """The conversation the buyer wrote in last, inside its window; else WhatsApp with the
    template (to the buyer's account there, or to their number)."""
    accounts = [
        identity
        for identity in session.execute(
            sa.select(BuyerIdentity)
            .where(BuyerIdentity.shop_id == shop.id, BuyerIdentity.buyer_id == buyer.id)
            .order_by(BuyerIdentity.id)
        ).scalars()
        if identity.channel in META_CHANNELS
    ]
    open_ones = [
        (last, identity)
        for identity in accounts
        if (last := windows.last_message_at(session, shop.id, identity.channel, identity.key))
        and windows.is_open(last, now)
    ]
    if open_ones:
        _, identity = max(open_ones, key=lambda pair: pair[0])
        return Route(identity.channel, identity.key, None, None)
    whatsapp = next((i for i in accounts if i.channel == Channel.WHATSAPP), None)
    if whatsapp is None and buyer.phone is None:
        return NotSent(INSTAGRAM_CLOSED if accounts else NO_ACCOUNT)
    if template is None:
        return NotSent(no_template(kind))
    return Route(
        Channel.WHATSAPP,
        whatsapp.key if whatsapp else None,
        None if whatsapp else buyer.phone,
        template,
    )


def moot(session: Session, notification: Notification) -> str | None:
    """Why a notification no longer makes sense (a new order's buttons once it is confirmed or
    cancelled), or None."""
    order = session.get(Order, notification.order_id)
    if order is None:
        return "the order no longer exists"
    if notification.kind == NoticeKind.ORDER_CREATED and order.status != OrderStatus.PENDING:
        return f"the order is {order.status} now"
    return None


def values(session: Session, notification: Notification) -> dict[str, str]:
    """Every template field (``notice_templates.FIELDS``) and response placeholder of the
    notification, as text; a field without a value is ``-`` (Meta refuses empty parameters)."""
    order = session.get(Order, notification.order_id)
    shop = session.get(Shop, notification.shop_id)
    if order is None or shop is None:
        raise ValueError("a notification of an order or shop that no longer exists")
    buyer = session.get(Buyer, order.buyer_id)
    detail = notification.detail or {}
    filled = {
        "order_id": order.id,
        "amount": format_naira(order.amount_kobo),
        "description": order.description,
        "status": order.status,
        "reference": order.reference,
        "reason": detail.get("reason") or order.cancel_reason,
        "address": format_address(order.delivery_address) if order.delivery_address else None,
        "verdict": detail.get("verdict"),
        "buyer": (buyer.display_name or buyers.label(buyer)) if buyer is not None else None,
        "shop_name": shop.name,
    }
    return {name: str(value) if value else _NO_VALUE for name, value in filled.items()}
