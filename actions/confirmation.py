"""Confirming an order: only the buyer's own pending orders, and twice is harmless.

Shops with ``address_collection`` on first collect a delivery address (the address form), then
confirm the order it was collected for.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import FollowupAction, SlotSet
from sqlalchemy.orm import Session

from actions.address import ADDRESS_SLOTS
from actions.base import Outcome, Reply, VerifiedBuyerAction
from actions.orders import choose_order
from actions.turn import Turn
from bot.platform.models import Buyer, Order, OrderStatus, Shop
from bot.shop import order_changes
from bot.shop.addresses import format_address
from bot.shop.order_changes import BUYER
from bot.shop.orders import Change, get_buyer_order
from bot.shop.profile import shop_offers
from bot.shop.wording import describe

_CLEAR_ADDRESS: list[dict[str, Any]] = [
    SlotSet(slot, None) for slot in (*ADDRESS_SLOTS, "confirming_order_id")
]


def order_to_confirm(session: Session, turn: Turn, buyer: Buyer) -> Order | Outcome:
    """The pending order the buyer means (named, or their only one), or the question or refusal
    that answers instead."""
    return choose_order(
        session,
        turn,
        buyer,
        intent="confirm_order",
        candidates={OrderStatus.PENDING.value},
        none_reply="utter_no_pending_orders",
        choose_reply="utter_choose_order_to_confirm",
    )


class ActionConfirmOrder(VerifiedBuyerAction):
    def name(self) -> str:
        return "action_confirm_order"

    def decide_for(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer) -> Outcome:
        waiting = turn.slots.get("confirming_order_id")
        if waiting and all(turn.slots.get(slot) for slot in ADDRESS_SLOTS):
            return self._confirm_with_address(session, turn, shop, buyer, waiting)
        order = order_to_confirm(session, turn, buyer)
        if isinstance(order, Outcome):
            return order
        if (
            order.status == OrderStatus.PENDING.value
            and order.delivery_address is None
            and shop_offers(shop, "address_collection")
        ):
            return Outcome(
                [Reply("utter_address_needed", describe(order))],
                [
                    *_CLEAR_ADDRESS,
                    SlotSet("confirming_order_id", order.id),
                    FollowupAction("address_form"),
                ],
            )
        return self._confirm(session, shop, buyer, order)

    def _confirm_with_address(
        self, session: Session, turn: Turn, shop: Shop, buyer: Buyer, order_id: str
    ) -> Outcome:
        order = get_buyer_order(session, buyer, order_id)
        if order is None:
            return Outcome([Reply("utter_order_not_found", {"order_id": order_id})], _CLEAR_ADDRESS)
        if order.status == OrderStatus.PENDING.value:
            order.delivery_address = {
                "street": turn.slots["address_street"],
                "city": turn.slots["address_city"],
                "state": turn.slots["address_state"],
                "phone": turn.slots["address_phone"],
            }
        outcome = self._confirm(session, shop, buyer, order)
        return Outcome(outcome.replies, _CLEAR_ADDRESS)

    @staticmethod
    def _confirm(session: Session, shop: Shop, buyer: Buyer, order: Order) -> Outcome:
        change = order_changes.move(session, order, OrderStatus.CONFIRMED.value, by=BUYER)
        if change is Change.DONE:
            if order.delivery_address:
                address = format_address(order.delivery_address)
                return Outcome(
                    [
                        Reply(
                            "utter_order_confirmed_delivery",
                            {**describe(order), "address": address},
                        )
                    ]
                )
            return Outcome([Reply("utter_order_confirmed", describe(order))])
        if order.status == OrderStatus.CANCELLED.value:
            return Outcome([Reply("utter_order_not_confirmable", describe(order))])
        return Outcome([Reply("utter_order_already_confirmed", describe(order))])
