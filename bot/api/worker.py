"""The outbox worker of the API process: every ``OUTBOX_POLL_SECONDS`` it claims what is due
(events for shops' webhooks, notifications for buyers and owners) and delivers it, a few at a
time. Claims are conditional updates, so several API processes share the work without
delivering anything twice at once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable

from bot.api.deliveries import Claimed, EventDeliverer, claim
from bot.meta.notices import NoticeSender
from bot.platform.db import session_scope
from bot.platform.models import Notification
from bot.platform.settings import get_settings
from bot.shop import outbox

logger = logging.getLogger(__name__)

BATCH = 20
IN_FLIGHT = 8


def _claim_notifications(limit: int) -> list[tuple[int, dt.datetime, str]]:
    with session_scope() as session:
        return [
            (row.id, row.claimed_at, row.shop_id)
            for row in outbox.claim_due(session, Notification, limit)
        ]


class OutboxWorker:
    def __init__(self, deliverer: EventDeliverer, sender: NoticeSender, poll: float) -> None:
        self._deliverer = deliverer
        self._sender = sender
        self._poll = poll
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(IN_FLIGHT)

    @classmethod
    def from_settings(cls) -> OutboxWorker:
        settings = get_settings()
        return cls(
            EventDeliverer(settings.outbox_retry_base_seconds),
            NoticeSender.from_settings(),
            settings.outbox_poll_seconds,
        )

    async def run(self) -> None:
        """Work until ``stop``; an error in one round is logged and the next round goes on."""
        while not self._stopping.is_set():
            try:
                busy = await self.round()
            except Exception:
                logger.exception("outbox round failed")
                busy = False
            if not busy:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._poll)
        await self._deliverer.close()
        await self._sender.close()

    async def stop(self) -> None:
        self._stopping.set()

    async def round(self) -> bool:
        """Deliver what is due now; whether there was anything."""
        events = await asyncio.to_thread(claim, BATCH)
        notices = await asyncio.to_thread(_claim_notifications, BATCH)
        work: list[Awaitable[None]] = [
            self._deliverer.deliver(event) for event in events if isinstance(event, Claimed)
        ]
        work += [self._sender.send(*notice) for notice in notices]
        await asyncio.gather(*(self._limited(job) for job in work))
        return bool(events or notices)

    async def _limited(self, job: Awaitable[None]) -> None:
        async with self._slots:
            await job
