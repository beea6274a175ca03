"""The audit trail: who did what in which shop, with buyers masked."""

from __future__ import annotations

import enum
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.masking import redact
from bot.platform.models import AuditEvent, Buyer
from bot.shop.buyers import label

logger = logging.getLogger(__name__)


class AuditAction(str, enum.Enum):
    BUYER_REGISTERED = "buyer.registered"
    BUYER_IDENTITY_CHANGED = "buyer.identity_changed"
    BUYER_PHONE_PROVEN = "buyer.phone_proven"
    PHONE_CODE_SENT = "code.sent_to_phone"
    CODE_ISSUED = "code.issued"
    CODE_VERIFIED = "code.verified"
    CODE_FAILED = "code.failed"
    CODE_LOCKED_OUT = "code.locked_out"
    TOKEN_ISSUED = "token.issued"
    ORDER_CREATED = "order.created"
    ORDER_CONFIRMED = "order.confirmed"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_STATUS_CHANGED = "order.status_changed"
    UPLOAD_LINK_ISSUED = "receipt.upload_link_issued"
    RECEIPT_RECEIVED = "receipt.received"
    SHOP_CONNECTED = "shop.connected"
    SHOP_CONNECT_REFUSED = "shop.connect_refused"
    SHOP_TOKEN_REFRESHED = "shop.token_refreshed"
    SHOP_TOKEN_REFRESH_FAILED = "shop.token_refresh_failed"
    REPLY_UNSENDABLE = "reply.unsendable"


def record(
    session: Session,
    shop_id: str,
    action: AuditAction,
    buyer: Buyer | None = None,
    **detail: Any,
) -> None:
    masked = label(buyer) if buyer else None
    detail = redact(detail)
    session.add(AuditEvent(shop_id=shop_id, buyer=masked, action=action.value, detail=detail))
    logger.info(
        "audit", extra={"shop_id": shop_id, "buyer": masked, "action": action.value, **detail}
    )


def tail(session: Session, shop_id: str, limit: int = 20) -> list[AuditEvent]:
    rows = session.execute(
        sa.select(AuditEvent)
        .where(AuditEvent.shop_id == shop_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    ).scalars()
    return list(reversed(rows.all()))
