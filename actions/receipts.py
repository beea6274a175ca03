"""Receipt upload: a presigned S3 form for one of the buyer's orders."""

from __future__ import annotations

import logging
import math

from sqlalchemy.orm import Session

from actions.base import Outcome, Reply, ShopAction
from actions.orders import choose_order, describe
from actions.turn import Turn
from bot import audit
from bot.audit import AuditAction
from bot.models import Buyer, OrderStatus, Shop
from bot.receipts import LINK_TTL, MAX_BYTES, UploadsUnavailable, create_upload_link
from bot.settings import get_settings

logger = logging.getLogger(__name__)
OPEN = {OrderStatus.PENDING.value, OrderStatus.CONFIRMED.value}


class ActionReceiptUpload(ShopAction):
    requires_verified = True

    def name(self) -> str:
        return "action_receipt_upload"

    def decide(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer | None) -> Outcome:
        choice = choose_order(
            session,
            turn,
            buyer,
            intent="upload_receipt",
            candidates=OPEN,
            none_reply="utter_no_open_orders",
            choose_reply="utter_choose_order_for_upload",
        )
        if choice.outcome:
            return choice.outcome
        order = choice.order
        if order.status == OrderStatus.CANCELLED.value:
            return Outcome([Reply("utter_order_already_cancelled", describe(order))])
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
