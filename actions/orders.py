"""Finding the order a buyer means, and the words used to describe one."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from actions.base import Outcome, Reply
from actions.turn import Turn
from bot.platform.models import Buyer, Order
from bot.shop.money import format_naira
from bot.shop.order_ids import normalize_order_id
from bot.shop.orders import buyer_orders, get_buyer_order

MAX_CHOICES = 10


def choose_order(
    session: Session,
    turn: Turn,
    buyer: Buyer,
    *,
    intent: str,
    candidates: set[str],
    none_reply: str,
    choose_reply: str,
    carry: dict[str, str] | None = None,
) -> Order | Outcome:
    """The order the buyer means, or what to tell them instead: the typed order id if it is the
    buyer's; else the only candidate; else a question with buttons.

    An id that is someone else's, or another shop's, is answered exactly like one that does not
    exist, so nothing can be learnt by guessing. ``carry`` rides along in the buttons' payloads.
    """
    typed = turn.entities.get("order_id")
    if typed:
        order_id = normalize_order_id(typed) or typed.upper()
        order = get_buyer_order(session, buyer, order_id)
        if order is None:
            return Outcome([Reply("utter_order_not_found", {"order_id": order_id})])
        return order
    orders = buyer_orders(session, buyer, candidates)
    if not orders:
        # The shop may have made the order for a number this chat has not proven yet.
        hint = [Reply("utter_link_phone_hint")] if buyer.phone is None else []
        return Outcome([Reply(none_reply), *hint])
    if len(orders) == 1:
        return orders[0]
    buttons = [
        {
            "title": f"{order.id} {format_naira(order.amount_kobo)}",
            "payload": f"/{intent}{json.dumps({'order_id': order.id, **(carry or {})})}",
        }
        for order in orders[:MAX_CHOICES]
    ]
    return Outcome([Reply(choose_reply, {"count": len(orders)}, buttons)])
