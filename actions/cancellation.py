"""Cancelling an order: ask first, then cancel on yes, keep on no, and record the reason."""

from __future__ import annotations

import abc
import re

from rasa_sdk.events import SlotSet
from sqlalchemy.orm import Session

from actions.base import Outcome, Reply, VerifiedBuyerAction
from actions.orders import choose_order
from actions.turn import Turn
from bot.platform.models import Buyer, Order, OrderStatus, Shop
from bot.platform.patterns import ORDER_ID_PATTERN
from bot.shop import order_changes
from bot.shop.order_changes import BUYER
from bot.shop.orders import OPEN, Change, get_buyer_order
from bot.shop.wording import describe

ASKING_ACTION = "action_request_cancellation"
# Asks the cancellation question too when it is unsure what the buyer means (actions/clarify.py).
CLARIFYING_ACTION = "action_clarify"
NO_REASON = "no reason given"
_ORDER_ID_RE = re.compile(ORDER_ID_PATTERN)
# The request itself ("abeg cancel my order because"), which is not part of the reason.
_REQUEST = re.compile(
    r"^\W*(?:(?:please|pls|abeg|kindly|i\s+want\s+to|i\s+wan|help\s+me)\W+)*"
    r"cancel(?:l?ed)?\b\W*"
    r"(?:(?:my|the|this|that|dis)\s+)?(?:order|am|it)?\b\W*"
    r"(?:(?:because|cos|cuz|since|as|reason(?:\s+is)?)\b\W*)?",
    re.IGNORECASE,
)
_CLEARED = [SlotSet("cancel_order_id", None), SlotSet("cancel_reason", None)]


def extract_reason(text: str) -> str | None:
    """What is left of the message once the order id and the request words are taken out."""
    remainder = _REQUEST.sub("", _ORDER_ID_RE.sub(" ", text).strip()).strip()
    return remainder[:500] if len(remainder) >= 2 else None


def _refusal(order: Order) -> Outcome:
    if order.status == OrderStatus.CANCELLED.value:
        return Outcome([Reply("utter_order_already_cancelled", describe(order))], list(_CLEARED))
    return Outcome([Reply("utter_order_not_cancellable", describe(order))], list(_CLEARED))


def ask_to_cancel(session: Session, turn: Turn, buyer: Buyer) -> Outcome:
    """The question before a cancellation (which order, then yes or no), remembering the order
    and the reason given."""
    order = choose_order(
        session,
        turn,
        buyer,
        intent="cancel_order",
        candidates=set(OPEN),
        none_reply="utter_no_cancellable_orders",
        choose_reply="utter_choose_order_to_cancel",
    )
    if isinstance(order, Outcome):
        return order
    if order.status not in OPEN:
        return _refusal(order)
    return Outcome(
        [Reply("utter_ask_cancel_confirmation", describe(order))],
        [
            SlotSet("cancel_order_id", order.id),
            SlotSet("cancel_reason", extract_reason(turn.text)),
        ],
    )


class ActionRequestCancellation(VerifiedBuyerAction):
    feature = "order_cancellation"

    def name(self) -> str:
        return ASKING_ACTION

    def decide_for(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer) -> Outcome:
        return ask_to_cancel(session, turn, buyer)


class _AnswerToCancellation(VerifiedBuyerAction):
    """A yes or no only counts as the answer to the cancellation question just asked. A no to
    another question of action_clarify ("Do you want to confirm ...?") changes nothing."""

    def decide_for(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer) -> Outcome:
        order_id = turn.slots.get("cancel_order_id")
        if turn.previous_action not in (ASKING_ACTION, CLARIFYING_ACTION):
            return Outcome([Reply("utter_nothing_to_answer")], list(_CLEARED))
        if not order_id:
            return Outcome([Reply("utter_nothing_changed")], list(_CLEARED))
        order = get_buyer_order(session, buyer, order_id)
        if order is None:
            return Outcome([Reply("utter_order_not_found", {"order_id": order_id})], list(_CLEARED))
        return self.answer(session, turn, shop, buyer, order)

    @abc.abstractmethod
    def answer(
        self, session: Session, turn: Turn, shop: Shop, buyer: Buyer, order: Order
    ) -> Outcome:
        """What to do with the order the question was about."""


class ActionCancelOrder(_AnswerToCancellation):
    def name(self) -> str:
        return "action_cancel_order"

    def answer(
        self, session: Session, turn: Turn, shop: Shop, buyer: Buyer, order: Order
    ) -> Outcome:
        reason = turn.slots.get("cancel_reason") or NO_REASON
        change = order_changes.move(
            session, order, OrderStatus.CANCELLED.value, by=BUYER, reason=reason
        )
        if change is not Change.DONE:
            return _refusal(order)
        return Outcome(
            [Reply("utter_order_cancelled", {**describe(order), "reason": reason})], list(_CLEARED)
        )


class ActionKeepOrder(_AnswerToCancellation):
    def name(self) -> str:
        return "action_keep_order"

    def answer(
        self, session: Session, turn: Turn, shop: Shop, buyer: Buyer, order: Order
    ) -> Outcome:
        return Outcome([Reply("utter_order_kept", describe(order))], list(_CLEARED))
