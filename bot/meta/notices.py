"""Sending the queued notifications (``bot.shop.notifications``) through the Graph API, as the
shop, by Meta's rules: a normal message inside the 24-hour window, the shop's approved template
outside it on WhatsApp, and otherwise nothing until the person writes again.

Every send is recorded with the others (``inbox.record_send``), so delivery statuses join it.
Meta's answer decides what happens next: 131047 (the window closed after all) waits for the
person to write; a throttle or an outage is tried again later; any other error is final.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bot.meta.accounts import AccountDirectory
from bot.meta.graph import GraphClient, GraphError
from bot.meta.outbound import (
    Recipient,
    instagram_messages,
    whatsapp_messages,
    whatsapp_template,
)
from bot.meta.sends import send_recorded
from bot.meta.whatsapp_users import recipient_of
from bot.platform.db import session_scope
from bot.platform.masking import mask_user_id
from bot.platform.models import Buyer, Channel, Notification, Order, OutboxState, Shop, utcnow
from bot.platform.phones import wa_id_of_phone
from bot.platform.settings import get_settings
from bot.shop import notifications, outbox
from bot.shop.notice_templates import NoticeKind
from bot.shop.notifications import NotSent, Route
from bot.shop.owner_chat import alert_text
from bot.shop.profile import load_profile
from bot.shop.shops import account_of_shop
from bot.shop.wording import order_buttons, render

logger = logging.getLogger(__name__)

WINDOW_CLOSED = 131047
# Attempts (each with the Graph client's own retries) before a transient failure is final.
MAX_ATTEMPTS = 8
MAX_RETRY_DELAY = dt.timedelta(hours=1)
MESSAGE, TEMPLATE = "message", "template"


@dataclass(frozen=True)
class Ready:
    """A notification with its send bodies, to go as ``account_id`` on ``channel``."""

    channel: str
    account_id: str
    recipient: str
    bodies: list[dict[str, Any]]
    via: str


@dataclass(frozen=True)
class Settled:
    """How a notification ended this attempt: ``state`` and why, and what was sent."""

    state: OutboxState
    reason: str | None = None
    channel: str | None = None
    via: str | None = None
    message_id: str | None = None
    error_code: int | None = None
    retry: bool = False


class NoticeSender:
    """Sends claimed notifications; one per process, its coroutines may run concurrently."""

    def __init__(
        self, whatsapp: GraphClient, instagram: GraphClient, retry_base_seconds: float
    ) -> None:
        self._graphs = {Channel.WHATSAPP.value: whatsapp, Channel.INSTAGRAM.value: instagram}
        self._retry_base = retry_base_seconds

    @classmethod
    def from_settings(cls) -> NoticeSender:
        settings = get_settings()
        return cls(
            GraphClient(settings.graph_api_url, settings.graph_api_version),
            GraphClient(settings.instagram_graph_api_url, settings.graph_api_version),
            settings.outbox_retry_base_seconds,
        )

    async def send(self, notification_id: int, claimed_at: dt.datetime, shop_id: str) -> None:
        """Send one claimed notification and record how it went."""
        try:
            prepared = await asyncio.to_thread(_prepare, notification_id)
            if isinstance(prepared, Ready):
                settled = await self._deliver(shop_id, prepared)
            else:
                settled = prepared
        except Exception:
            logger.exception("notification failed", extra={"notification_id": notification_id})
            settled = Settled(OutboxState.PENDING, "internal error", retry=True)
        await asyncio.to_thread(_settle, notification_id, claimed_at, settled, self._retry_base)

    async def close(self) -> None:
        for graph in self._graphs.values():
            await graph.close()

    async def _deliver(self, shop_id: str, ready: Ready) -> Settled:
        token = await asyncio.to_thread(AccountDirectory(ready.channel).token_of, shop_id)
        if not token:
            return Settled(
                OutboxState.FAILED, f"the shop has no {ready.channel} token to send with"
            )
        graph = self._graphs[ready.channel]
        first_id: str | None = None
        for body in ready.bodies:
            message_id, error = await send_recorded(
                graph, shop_id, ready.channel, ready.account_id, token, ready.recipient, body
            )
            if error is not None:
                logger.warning(
                    "notification not sent",
                    extra={
                        "shop_id": shop_id,
                        "channel": ready.channel,
                        "recipient": mask_user_id(ready.recipient),
                        "code": error.code,
                        "retryable": error.retryable,
                    },
                )
                return _after_error(error, ready)
            first_id = first_id or message_id
        return Settled(OutboxState.DONE, channel=ready.channel, via=ready.via, message_id=first_id)


def _after_error(error: GraphError, ready: Ready) -> Settled:
    described = f"Meta error {error.code}: {error.title}" if error.code else error.title
    if error.code == WINDOW_CLOSED:
        state, reason = OutboxState.WAITING, f"outside the 24-hour window ({described})"
    elif error.retryable:
        state, reason = OutboxState.PENDING, described
    else:
        state, reason = OutboxState.FAILED, described
    return Settled(
        state,
        reason,
        channel=ready.channel,
        via=ready.via,
        error_code=error.code,
        retry=state is OutboxState.PENDING,
    )


def _prepare(notification_id: int) -> Ready | Settled:
    """Where and how the notification goes now, with its bodies; or how it ends without a send."""
    with session_scope() as session:
        notification = session.get(Notification, notification_id)
        if notification is None:
            return Settled(OutboxState.SKIPPED, "gone")
        moot = notifications.moot(session, notification)
        if moot is not None:
            return Settled(OutboxState.SKIPPED, moot)
        route = notifications.route(session, notification, utcnow())
        if isinstance(route, NotSent):
            return Settled(OutboxState.WAITING, route.reason)
        account_id = account_of_shop(session, notification.shop_id, route.channel)
        if account_id is None:
            return Settled(OutboxState.FAILED, f"the shop has no {route.channel} account connected")
        return _ready(session, notification, route, account_id)


def _ready(session: Session, notification: Notification, route: Route, account_id: str) -> Ready:
    kind = NoticeKind(notification.kind)
    values = notifications.values(session, notification)
    via = TEMPLATE if route.template else MESSAGE
    if route.channel == Channel.INSTAGRAM:
        text, buttons = _text(session, notification, kind, values, route.channel)
        key = route.key or ""
        return Ready(route.channel, account_id, key, instagram_messages(key, text, buttons), via)
    recipient = (
        recipient_of(session, notification.shop_id, route.key)
        if route.key
        else Recipient(wa_id=wa_id_of_phone(route.phone or ""))
    )
    label = recipient.wa_id or recipient.user_id or ""
    if route.template is not None:
        parameters = [values[field] for field in route.template.parameters]
        body = whatsapp_template(
            recipient, route.template.name, route.template.language, parameters
        )
        return Ready(route.channel, account_id, label, [body], via)
    text, buttons = _text(session, notification, kind, values, route.channel)
    return Ready(route.channel, account_id, label, whatsapp_messages(recipient, text, buttons), via)


def _text(
    session: Session,
    notification: Notification,
    kind: NoticeKind,
    values: dict[str, str],
    channel: str,
) -> tuple[str, list[dict[str, str]]]:
    """The message's words (the shop's own, in its tone, for a buyer) and its buttons."""
    if kind.for_owners:
        return alert_text(kind, values), []
    shop = session.get(Shop, notification.shop_id)
    order = session.get(Order, notification.order_id)
    if shop is None or order is None:
        raise ValueError("a notification of an order or shop that no longer exists")
    buyer = session.get(Buyer, order.buyer_id)
    profile = load_profile(session, shop)
    text = render(
        profile,
        f"utter_notice_{kind.value}",
        values,
        channel,
        buyer.display_name if buyer else None,
    )
    buttons = order_buttons(order, profile.features) if kind is NoticeKind.ORDER_CREATED else []
    return text, buttons


def _settle(
    notification_id: int, claimed_at: dt.datetime, settled: Settled, retry_base: float
) -> None:
    with session_scope() as session:
        notification = session.get(Notification, notification_id)
        if notification is None:
            return
        state, retry_in = settled.state, None
        if settled.retry:
            if notification.attempts >= MAX_ATTEMPTS:
                state = OutboxState.FAILED
            else:
                retry_in = outbox.backoff(notification.attempts, retry_base, MAX_RETRY_DELAY)
        decided_here = settled.error_code is None
        if (
            state is OutboxState.WAITING
            and decided_here
            and isinstance(notifications.route(session, notification, utcnow()), Route)
        ):
            # The person wrote while this attempt was deciding: try again now.
            state, retry_in = OutboxState.PENDING, dt.timedelta(0)
        sent: dict[str, Any] = {
            "channel": settled.channel,
            "via": settled.via,
            "platform_message_id": settled.message_id,
            "error_code": settled.error_code,
        }
        if state is OutboxState.DONE:
            sent["sent_at"] = utcnow()
        outbox.settle(
            session,
            Notification,
            notification_id,
            claimed_at,
            state,
            error=settled.reason,
            retry_in=retry_in,
            **sent,
        )
