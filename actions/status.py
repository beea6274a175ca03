"""Where is my order? Status, amount, description and the last change."""

from __future__ import annotations

from sqlalchemy.orm import Session

from actions.base import Outcome, Reply, VerifiedBuyerAction
from actions.orders import choose_order
from actions.turn import Turn
from bot.platform.models import Buyer, Shop
from bot.shop.wording import describe


class ActionOrderStatus(VerifiedBuyerAction):
    feature = "order_tracking"

    def name(self) -> str:
        return "action_order_status"

    def decide_for(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer) -> Outcome:
        order = choose_order(
            session,
            turn,
            buyer,
            intent="order_status",
            candidates=set(),
            none_reply="utter_no_orders",
            choose_reply="utter_choose_order_for_status",
        )
        if isinstance(order, Outcome):
            return order
        return Outcome([Reply("utter_order_status", describe(order))])
