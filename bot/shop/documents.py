"""Orders, buyers, receipts and the rest as a shop's own systems see them: plain JSON, the same
in the API's answers and in the events POSTed to the shop's webhook."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.masking import mask_user_id
from bot.platform.models import (
    AuditEvent,
    Buyer,
    BuyerIdentity,
    Channel,
    EventDelivery,
    Notification,
    Order,
    Receipt,
    ShopEvent,
)
from bot.shop.money import format_naira
from bot.shop.receipt_checks import Verdict


def timestamp(at: dt.datetime | None) -> str | None:
    """A stored (naive UTC) time in ISO 8601 with its ``Z``."""
    return at.isoformat(timespec="milliseconds") + "Z" if at is not None else None


def order_document(session: Session, order: Order) -> dict[str, Any]:
    buyer = session.get(Buyer, order.buyer_id)
    return {
        "id": order.id,
        "status": order.status,
        "amount_kobo": order.amount_kobo,
        "amount": format_naira(order.amount_kobo),
        "description": order.description,
        "reference": order.reference,
        "buyer": buyer_summary(buyer) if buyer is not None else None,
        "cancel_reason": order.cancel_reason,
        "delivery_address": order.delivery_address,
        "created_at": timestamp(order.created_at),
        "updated_at": timestamp(order.updated_at),
    }


def buyer_summary(buyer: Buyer) -> dict[str, Any]:
    return {"id": buyer.id, "phone": buyer.phone, "name": buyer.display_name}


def buyer_document(session: Session, buyer: Buyer) -> dict[str, Any]:
    identities = session.execute(
        sa.select(BuyerIdentity)
        .where(BuyerIdentity.buyer_id == buyer.id)
        .order_by(BuyerIdentity.id)
    ).scalars()
    return {
        **buyer_summary(buyer),
        "phone_verified": buyer.phone_verified_at is not None,
        "verified": buyer.verified_at is not None,
        "accounts": [_account(identity) for identity in identities],
        "created_at": timestamp(buyer.created_at),
    }


def _account(identity: BuyerIdentity) -> dict[str, Any]:
    """A WhatsApp account by its business-scoped user id and username (its number is the
    buyer's phone); others by their id on the channel."""
    if identity.channel == Channel.WHATSAPP:
        return {
            "channel": identity.channel,
            "user_id": identity.bsuid,
            "username": identity.username,
        }
    return {"channel": identity.channel, "user_id": identity.key, "username": None}


def receipt_document(
    receipt: Receipt, download_url: str | None, download_expires_at: dt.datetime | None
) -> dict[str, Any]:
    verdict = Verdict.from_json(receipt.verdict) if receipt.verdict else None
    return {
        "id": receipt.id,
        "order_id": receipt.order_id,
        "status": receipt.status,
        "content_type": receipt.content_type,
        "size_bytes": receipt.size_bytes,
        "sha256": receipt.sha256,
        # What the receipt checks found: flagged (look before trusting it) or clear, and why.
        "verdict": None if verdict is None else ("flagged" if verdict.flagged else "clear"),
        "verdict_reason": None if verdict is None else verdict.describe(),
        "download_url": download_url,
        "download_expires_at": timestamp(download_expires_at),
        "created_at": timestamp(receipt.created_at),
    }


def notification_document(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.id,
        "order_id": notification.order_id,
        "kind": notification.kind,
        "to": "owner" if notification.owner_phone else "buyer",
        "owner": mask_user_id(notification.owner_phone) if notification.owner_phone else None,
        "state": notification.state,
        "reason": notification.last_error,
        "channel": notification.channel,
        "via": notification.via,
        "error_code": notification.error_code,
        "attempts": notification.attempts,
        "created_at": timestamp(notification.created_at),
        "sent_at": timestamp(notification.sent_at),
    }


def event_document(
    event: ShopEvent, deliveries: list[EventDelivery] | None = None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "state": event.state,
        "attempts": event.attempts,
        "last_error": event.last_error,
        "data": event.data,
        "created_at": timestamp(event.created_at),
        "delivered_at": timestamp(event.delivered_at),
        "next_attempt_at": timestamp(event.next_attempt_at) if event.state == "pending" else None,
    }
    if deliveries is not None:
        document["deliveries"] = [
            {
                "attempted_at": timestamp(delivery.attempted_at),
                "url": delivery.url,
                "status_code": delivery.status_code,
                "error": delivery.error,
                "succeeded": delivery.succeeded,
            }
            for delivery in deliveries
        ]
    return document


def audit_document(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "action": event.action,
        "buyer": event.buyer,
        "detail": event.detail,
        "created_at": timestamp(event.created_at),
    }
