"""The inbox pruned while the server runs: finished messages and delivery records older than
``INBOX_RETENTION_DAYS``, when the server starts and every hour after, in a worker thread.

One pruning per server, whichever channel starts it. Several servers pruning the same database
at once stay correct (a row is deleted once), so nothing needs scheduling: ``python -m bot db
prune`` does the same once, for an operator who wants it at a time of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from sanic import Sanic

from bot.meta import inbox

logger = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 3600.0


class InboxPruning:
    """Prunes now and then every ``PRUNE_EVERY_SECONDS`` until stopped."""

    def __init__(self, retention: dt.timedelta) -> None:
        self._retention = retention
        self._stopped = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Ends the waiting; a pruning in progress stops after its current batch."""
        self._stopped.set()
        await self._task

    async def _run(self) -> None:
        while True:  # once at least, even when stopped as soon as started
            try:
                messages, sends = await asyncio.to_thread(
                    inbox.prune, self._retention, stopping=self._stopped.is_set
                )
            except Exception:
                logger.exception("inbox pruning failed; it runs again later")
            else:
                logger.info(
                    "inbox pruned", extra={"messages_deleted": messages, "sends_deleted": sends}
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), PRUNE_EVERY_SECONDS)
            if self._stopped.is_set():
                return


def start_pruning(app: Sanic, retention: dt.timedelta) -> None:
    """Once per server: the second channel to start finds it running."""
    if getattr(app.ctx, "inbox_pruning", None) is None:
        app.ctx.inbox_pruning = InboxPruning(retention)


async def stop_pruning(app: Sanic) -> None:
    pruning = getattr(app.ctx, "inbox_pruning", None)
    if pruning is not None:
        app.ctx.inbox_pruning = None
        await pruning.stop()
