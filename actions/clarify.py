"""Messages the assistant did not understand well enough to act on (``nlu_fallback``).

When the message most likely meant to confirm or cancel an order, or to answer the cancellation
question, a wrong guess would change or block an order; so instead of acting or refusing, the
buyer gets a one-tap question about the order. Anything else gets the usual "I didn't get that".
Whether a message is in doubt is bot.shop.understanding's decision.
"""

from __future__ import annotations

import json

from rasa_sdk.events import SlotSet
from sqlalchemy.orm import Session

from actions.base import Outcome, Reply, ShopAction
from actions.cancellation import ASKING_ACTION, CLARIFYING_ACTION, ask_to_cancel
from actions.confirmation import order_to_confirm
from actions.turn import Turn
from bot.platform.models import Buyer, Shop
from bot.shop.orders import get_buyer_order
from bot.shop.profile import FEATURES, shop_offers
from bot.shop.understanding import intent_in_doubt
from bot.shop.wording import describe

NOT_UNDERSTOOD = Outcome([Reply("utter_fallback")])


def ask_to_confirm(session: Session, turn: Turn, buyer: Buyer) -> Outcome:
    """ "Do you want to confirm ORD-…?": Yes confirms that very order, No changes nothing."""
    order = order_to_confirm(session, turn, buyer)
    if isinstance(order, Outcome):
        return order
    buttons = [
        {"title": "Yes", "payload": f"/confirm_order{json.dumps({'order_id': order.id})}"},
        {"title": "No", "payload": "/deny"},
    ]
    return Outcome(
        [Reply("utter_ask_confirm_order", describe(order), buttons)],
        [SlotSet("cancel_order_id", None), SlotSet("cancel_reason", None)],
    )


def ask_again_to_cancel(session: Session, turn: Turn, buyer: Buyer) -> Outcome:
    """An unclear answer to the cancellation question: the same question again, same order."""
    order_id = turn.slots["cancel_order_id"]
    order = get_buyer_order(session, buyer, order_id)
    if order is None:
        return Outcome([Reply("utter_order_not_found", {"order_id": order_id})])
    return Outcome([Reply("utter_ask_cancel_confirmation", describe(order))])


def answers_cancellation_question(turn: Turn) -> bool:
    return turn.previous_action in (ASKING_ACTION, CLARIFYING_ACTION) and bool(
        turn.slots.get("cancel_order_id")
    )


class ActionClarify(ShopAction):
    def name(self) -> str:
        return CLARIFYING_ACTION

    def decide(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer | None) -> Outcome:
        intent = intent_in_doubt(turn.intent_ranking)
        # A yes or no means something only as the answer to the cancellation question.
        if intent is None or (
            intent in ("affirm", "deny") and not answers_cancellation_question(turn)
        ):
            return NOT_UNDERSTOOD
        if buyer is None:
            return Outcome([Reply("utter_not_registered")])
        if buyer.verified_at is None:
            return Outcome([Reply("utter_verify_first")])
        if intent == "confirm_order":
            return ask_to_confirm(session, turn, buyer)
        if not shop_offers(shop, "order_cancellation"):
            feature = FEATURES["order_cancellation"]
            return Outcome([Reply("utter_feature_unavailable", {"feature_name": feature})])
        if intent == "cancel_order":
            return ask_to_cancel(session, turn, buyer)
        return ask_again_to_cancel(session, turn, buyer)
