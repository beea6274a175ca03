"""Confirming an order: only the buyer's own pending orders, and twice is harmless."""

from __future__ import annotations

from sqlalchemy.orm import Session

from actions.base import Outcome, Reply, ShopAction
from actions.orders import choose_order, describe
from actions.turn import Turn
from bot import audit
from bot.audit import AuditAction
from bot.models import Buyer, OrderStatus, Shop
from bot.orders import Change, change_status


class ActionConfirmOrder(ShopAction):
    requires_verified = True

    def name(self) -> str:
        return "action_confirm_order"

    def decide(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer | None) -> Outcome:
        choice = choose_order(
            session,
            turn,
            buyer,
            intent="confirm_order",
            candidates={OrderStatus.PENDING.value},
            none_reply="utter_no_pending_orders",
            choose_reply="utter_choose_order_to_confirm",
        )
        if choice.outcome:
            return choice.outcome
        order = choice.order
        change = change_status(session, order, OrderStatus.CONFIRMED.value)
        if change is Change.DONE:
            audit.record(session, shop.id, AuditAction.ORDER_CONFIRMED, buyer, order_id=order.id)
            return Outcome([Reply("utter_order_confirmed", describe(order))])
        if order.status == OrderStatus.CANCELLED.value:
            return Outcome([Reply("utter_order_not_confirmable", describe(order))])
        return Outcome([Reply("utter_order_already_confirmed", describe(order))])
