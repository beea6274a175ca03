"""Payment receipts: sent as a photo or PDF in the chat, or uploaded through a presigned S3 form."""

from __future__ import annotations

import logging
import math

from sqlalchemy.orm import Session

from actions.base import Outcome, Reply, VerifiedBuyerAction
from actions.orders import choose_order
from actions.turn import Turn
from bot.platform.models import META_CHANNELS, Buyer, Order, OrderStatus, Shop
from bot.platform.settings import get_settings
from bot.shop import audit, order_changes
from bot.shop.audit import AuditAction
from bot.shop.orders import OPEN
from bot.shop.receipts import (
    LINK_TTL,
    MAX_BYTES,
    UploadsUnavailable,
    attach_receipt,
    create_upload_link,
)
from bot.shop.wording import describe

logger = logging.getLogger(__name__)
_PROBLEM_REPLIES = {
    "too_large": "utter_receipt_too_large",
    "wrong_type": "utter_receipt_wrong_type",
    "storage": "utter_uploads_unavailable",
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
            return self._attach(session, shop, buyer, order, received)
        if turn.channel in META_CHANNELS:
            return Outcome([Reply("utter_receipt_send_here", describe(order))])
        return self._upload_form(session, shop, buyer, order)

    @staticmethod
    def _attach(session: Session, shop: Shop, buyer: Buyer, order: Order, key: str) -> Outcome:
        try:
            receipt = attach_receipt(session, get_settings().receipts_bucket, buyer, order, key)
        except UploadsUnavailable as error:
            logger.warning("receipt not attached", extra={"shop_id": shop.id, "reason": str(error)})
            return Outcome([Reply("utter_receipt_unreadable")])
        order_changes.receipt_received(session, order, buyer, receipt)
        return Outcome([Reply("utter_receipt_received", describe(order))])

    @staticmethod
    def _upload_form(session: Session, shop: Shop, buyer: Buyer, order: Order) -> Outcome:
        try:
            link = create_upload_link(session, get_settings().receipts_bucket, buyer, order)
        except UploadsUnavailable as error:
            logger.warning(
                "receipt upload link unavailable", extra={"shop_id": shop.id, "reason": str(error)}
            )
            return Outcome([Reply("utter_uploads_unavailable")])
        audit.record(
            session,
            shop.id,
            AuditAction.UPLOAD_LINK_ISSUED,
            buyer,
            order_id=order.id,
            key_prefix=link.key_prefix,
        )
        upload = {
            "order_id": order.id,
            "url": link.url,
            "fields": link.forms,
            "max_bytes": MAX_BYTES,
            "expires_at": link.expires_at.isoformat() + "Z",
        }
        minutes = math.ceil(LINK_TTL.total_seconds() / 60)
        return Outcome(
            [
                Reply(
                    "utter_upload_link",
                    {"order_id": order.id, "minutes": minutes},
                    custom={"receipt_upload": upload},
                )
            ]
        )
