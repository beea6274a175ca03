"""A shop's events, kept in a durable outbox and POSTed to the shop's webhook.

An event is written in the same transaction as the change it reports, so none is lost; a worker
delivers it (``bot.api.deliveries``), recording every attempt, and tries again with a growing
delay for 24 hours. An event delivered once is never delivered again.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.models import EventDelivery, OutboxState, ShopEvent, ShopWebhook, utcnow
from bot.shop.documents import timestamp

ORDER_CREATED = "order.created"
ORDER_CONFIRMED = "order.confirmed"
ORDER_CANCELLED = "order.cancelled"
ORDER_STATUS_CHANGED = "order.status_changed"
RECEIPT_RECEIVED = "receipt.received"
EVENT_TYPES = (
    ORDER_CREATED,
    ORDER_CONFIRMED,
    ORDER_CANCELLED,
    ORDER_STATUS_CHANGED,
    RECEIPT_RECEIVED,
)
# How long an event is tried before it is given up.
RETRY_FOR = dt.timedelta(hours=24)
MAX_RETRY_DELAY = dt.timedelta(hours=1)
NO_WEBHOOK = "no webhook configured"
_LOOPBACK_NAMES = frozenset({"localhost"})


class WebhookError(ValueError):
    """A webhook URL that cannot be used; the message says why."""


def emit(session: Session, shop_id: str, event_type: str, data: dict[str, Any]) -> ShopEvent:
    """Record an event; it is delivered if the shop has a webhook, else kept as skipped."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    hooked = session.get(ShopWebhook, shop_id) is not None
    event = ShopEvent(
        id="evt_" + secrets.token_hex(12),
        shop_id=shop_id,
        type=event_type,
        data=data,
        state=(OutboxState.PENDING if hooked else OutboxState.SKIPPED).value,
        last_error=None if hooked else NO_WEBHOOK,
    )
    session.add(event)
    return event


def payload(event: ShopEvent) -> dict[str, Any]:
    """What the shop's webhook receives."""
    return {
        "id": event.id,
        "type": event.type,
        "created_at": timestamp(event.created_at),
        "shop_id": event.shop_id,
        "data": event.data,
    }


def record_attempt(
    session: Session,
    event: ShopEvent,
    url: str,
    status_code: int | None,
    error: str | None,
) -> None:
    """One attempt and how it went; a success is recorded whatever the response body said."""
    session.add(
        EventDelivery(
            shop_id=event.shop_id,
            event_id=event.id,
            url=url,
            status_code=status_code,
            error=(error or "")[:255] or None,
            succeeded=error is None,
        )
    )


def gives_up(event: ShopEvent, now: dt.datetime) -> bool:
    return now - event.created_at >= RETRY_FOR


def webhook_of(session: Session, shop_id: str) -> ShopWebhook | None:
    return session.get(ShopWebhook, shop_id)


def set_webhook(
    session: Session, shop_id: str, url: str, rotate_secret: bool = False
) -> str | None:
    """Point the shop's events at ``url``; the new signing secret when one was made (the first
    time, or asked for), else None: the secret is shown only when it is made."""
    checked = check_url(url)
    webhook = session.get(ShopWebhook, shop_id)
    secret = "whsec_" + secrets.token_urlsafe(32)
    if webhook is None:
        session.add(ShopWebhook(shop_id=shop_id, url=checked, secret=secret))
        return secret
    webhook.url, webhook.updated_at = checked, utcnow()
    if rotate_secret:
        webhook.secret = secret
        return secret
    return None


def remove_webhook(session: Session, shop_id: str) -> bool:
    """No more deliveries: events still pending are kept as skipped."""
    webhook = session.get(ShopWebhook, shop_id)
    if webhook is None:
        return False
    session.delete(webhook)
    session.execute(
        sa.update(ShopEvent)
        .where(ShopEvent.shop_id == shop_id, ShopEvent.state == OutboxState.PENDING.value)
        .values(state=OutboxState.SKIPPED.value, last_error=NO_WEBHOOK, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return True


def check_url(url: str) -> str:
    """An https URL with a host and no credentials; plain http only to this machine (a shop's
    system under development)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise WebhookError(f"{url!r} is not a URL") from None
    if len(text) > 2000 or not parts.hostname:
        raise WebhookError("the webhook URL needs a host and at most 2000 characters")
    if parts.username or parts.password:
        raise WebhookError("the webhook URL must not carry a user name or password")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname)):
        return text
    raise WebhookError("the webhook URL must start with https:// (http:// only to localhost)")


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def deliveries_of(session: Session, event: ShopEvent) -> list[EventDelivery]:
    return list(
        session.execute(
            sa.select(EventDelivery)
            .where(EventDelivery.shop_id == event.shop_id, EventDelivery.event_id == event.id)
            .order_by(EventDelivery.id)
        ).scalars()
    )
