"""Payment receipts: sent as a photo or PDF in the chat, or uploaded through a link to the
upload page (any channel)."""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from actions.base import Outcome, Reply, VerifiedBuyerAction
from actions.orders import choose_order
from actions.turn import Turn
from bot.platform.models import META_CHANNELS, Buyer, Order, OrderStatus, Shop
from bot.shop.orders import OPEN
from bot.shop.receipt_uploads import upload_url
from bot.shop.receipts import ReceiptRefused, RefusalReason, attach_chat_receipt
from bot.shop.upload_links import LINK_TTL, issue_link
from bot.shop.wording import describe

_PROBLEM_REPLIES = {
    "too_large": "utter_receipt_too_large",
    "wrong_type": "utter_receipt_wrong_type",
    "storage": "utter_uploads_unavailable",
}
_REFUSAL_REPLIES = {
    RefusalReason.NOT_YOURS: "utter_receipt_unreadable",
    RefusalReason.ALREADY_ATTACHED: "utter_receipt_already_attached",
    RefusalReason.DUPLICATE: "utter_receipt_duplicate",
}


class ActionReceiptUpload(VerifiedBuyerAction):
    feature = "receipt_upload"

    def name(self) -> str:
        return "action_receipt_upload"

    def decide_for(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer) -> Outcome:
        problem = turn.entities.get("receipt_problem")
        if problem:
            return Outcome([Reply(_PROBLEM_REPLIES.get(problem, "utter_receipt_unreadable"))])
        received = turn.entities.get("receipt_file")
        order = choose_order(
            session,
            turn,
            buyer,
            intent="upload_receipt",
            candidates=set(OPEN),
            none_reply="utter_receipt_no_open_order" if received else "utter_no_open_orders",
            choose_reply="utter_choose_order_for_receipt"
            if received
            else "utter_choose_order_for_upload",
            carry={"receipt_file": received} if received else None,
        )
        if isinstance(order, Outcome):
            return order
        if order.status == OrderStatus.CANCELLED.value:
            return Outcome([Reply("utter_order_already_cancelled", describe(order))])
        if received:
            return _attach(session, buyer, order, received)
        return _upload_link(session, turn, buyer, order)


def _attach(session: Session, buyer: Buyer, order: Order, key: str) -> Outcome:
    """The buyer's own receipt, stored by the channel, to the order they chose: once."""
    try:
        attach_chat_receipt(session, buyer, order, key)
    except ReceiptRefused as refused:
        return Outcome([Reply(_REFUSAL_REPLIES[refused.reason], describe(order))])
    return Outcome([Reply("utter_receipt_received", describe(order))])


def _upload_link(session: Session, turn: Turn, buyer: Buyer, order: Order) -> Outcome:
    """A link to the upload page; on WhatsApp and Instagram beside "send the photo here"."""
    link = issue_link(session, buyer, order, turn.channel, turn.user_id)
    values = {
        **describe(order),
        "upload_url": upload_url(link.token),
        "minutes": math.ceil(LINK_TTL.total_seconds() / 60),
    }
    response = "utter_receipt_send_here" if turn.channel in META_CHANNELS else "utter_upload_link"
    return Outcome([Reply(response, values)])
