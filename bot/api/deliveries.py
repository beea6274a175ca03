"""Delivering a shop's events (``bot.shop.events``) to its webhook: one signed POST per attempt,
each attempt recorded; a 2xx is delivered, anything else is tried again with a growing delay
until the event is 24 hours old. Redirects are not followed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass

import aiohttp

from bot.api.signatures import HEADER, sign
from bot.platform.db import session_scope
from bot.platform.models import OutboxState, ShopEvent, utcnow
from bot.shop import events, outbox

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
USER_AGENT = "TrustGuard-Webhooks/1"


@dataclass(frozen=True)
class Claimed:
    """An event this worker holds: what to POST where, signed with what."""

    event_id: str
    claimed_at: dt.datetime
    url: str
    secret: str
    body: bytes


def claim(limit: int) -> list[Claimed | str]:
    """Due events claimed now, ready to POST; the ids of those whose shop has no webhook any
    more (settled here, as skipped)."""
    ready: list[Claimed | str] = []
    with session_scope() as session:
        for event in outbox.claim_due(session, ShopEvent, limit):
            webhook = events.webhook_of(session, event.shop_id)
            if webhook is None:
                outbox.settle(
                    session,
                    ShopEvent,
                    event.id,
                    event.claimed_at,
                    OutboxState.SKIPPED,
                    error=events.NO_WEBHOOK,
                )
                ready.append(event.id)
                continue
            body = json.dumps(events.payload(event), separators=(",", ":")).encode()
            ready.append(Claimed(event.id, event.claimed_at, webhook.url, webhook.secret, body))
    return ready


class EventDeliverer:
    def __init__(self, retry_base_seconds: float, timeout: float = TIMEOUT_SECONDS) -> None:
        self._retry_base = retry_base_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def deliver(self, claimed: Claimed) -> None:
        status, error = await self._post(claimed)
        await asyncio.to_thread(self._record, claimed, status, error)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, claimed: Claimed) -> tuple[int | None, str | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            HEADER: sign(claimed.secret, claimed.body, int(time.time())),
        }
        try:
            async with self._session.post(
                claimed.url, data=claimed.body, headers=headers, allow_redirects=False
            ) as answer:
                await answer.read()
                if 200 <= answer.status < 300:
                    return answer.status, None
                return answer.status, f"HTTP {answer.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as failure:
            return None, type(failure).__name__

    def _record(self, claimed: Claimed, status: int | None, error: str | None) -> None:
        with session_scope() as session:
            event = session.get(ShopEvent, claimed.event_id)
            if event is None:
                return
            events.record_attempt(session, event, claimed.url, status, error)
            if error is None:
                outbox.settle(
                    session,
                    ShopEvent,
                    event.id,
                    claimed.claimed_at,
                    OutboxState.DONE,
                    delivered_at=utcnow(),
                )
                return
            logger.info(
                "event delivery failed",
                extra={"shop_id": event.shop_id, "event_id": event.id, "error": error},
            )
            if events.gives_up(event, utcnow()):
                outbox.settle(
                    session,
                    ShopEvent,
                    event.id,
                    claimed.claimed_at,
                    OutboxState.FAILED,
                    error=error,
                )
                return
            delay = outbox.backoff(event.attempts, self._retry_base, events.MAX_RETRY_DELAY)
            outbox.settle(
                session,
                ShopEvent,
                event.id,
                claimed.claimed_at,
                OutboxState.PENDING,
                error=error,
                retry_in=delay,
            )
