"""Conversation turns of every Meta channel of a process, on one event loop of their own.

A turn holds its loop for the model's inference; webhooks acknowledged on the same loop would
wait behind every turn in progress. Here the server's loop only verifies, stores and answers, and
one loop in one thread runs the turns of both channels: at most ``MAX_TURNS_IN_FLIGHT`` at once,
each conversation's messages in the order they arrived.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rasa.core.channels.channel import UserMessage

from connectors.meta.output import MetaOutput
from connectors.meta.server import RasaServer

logger = logging.getLogger(__name__)

# Turns started at once: a burst of new buyers otherwise starts hundreds of turns together, whose
# idle connections to the action server outlive its keep-alive and fail (replies lost).
MAX_TURNS_IN_FLIGHT = 8
# Seconds before each new attempt at a turn that sent nothing: Rasa logs a failed custom action
# and carries on without its events, so a turn with no reply is how a failure shows here.
TURN_RETRY_DELAYS = (1.0, 4.0, 15.0)
# Seconds a thread may hold the GIL while another waits (Python's default: 0.005). Both threads
# share one GIL: by default an acknowledgement waits up to 5 ms for a turn each time it needs the
# GIL back.
GIL_SWITCH_INTERVAL = 0.001
# The domain response a buyer gets when no attempt at a turn replied.
NO_REPLY = "utter_no_reply"


class TurnLoop:
    """The event loop (in a thread, started on first use) that runs the turns."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._slots: asyncio.Semaphore | None = None
        self._tails: dict[str, asyncio.Task] = {}
        self._running: set[asyncio.Task] = set()

    def submit(self, conversation: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work()`` once the conversation's previous work is done (thread-safe)."""
        self._started().call_soon_threadsafe(self._chain, conversation, work)

    def slot(self) -> asyncio.Semaphore:
        """Held while a turn runs; made on the turn loop, the only place it is used."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_TURNS_IN_FLIGHT)
        return self._slots

    def drain(self, timeout: float) -> None:
        """Wait (from another thread) for the work in progress to finish."""
        self.run(self._wait_running(timeout - 5), timeout)

    def run(self, work: Coroutine[Any, Any, Any], timeout: float) -> None:
        """Run a coroutine on the turn loop and wait for it (from another thread); a loop that
        never started has nothing to run it for."""
        with self._lock:
            loop = self._loop
        if loop is None:
            work.close()
            return
        asyncio.run_coroutine_threadsafe(work, loop).result(timeout=timeout)

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                sys.setswitchinterval(GIL_SWITCH_INTERVAL)
                threading.Thread(
                    target=self._loop.run_forever, name="meta-turns", daemon=True
                ).start()
            return self._loop

    def _chain(self, conversation: str, work: Callable[[], Awaitable[None]]) -> None:
        previous = self._tails.get(conversation)
        task = asyncio.get_running_loop().create_task(self._after(previous, work))
        self._tails[conversation] = task
        self._running.add(task)

        def forget(done: asyncio.Task) -> None:
            self._running.discard(done)
            if self._tails.get(conversation) is done:
                del self._tails[conversation]

        task.add_done_callback(forget)

    @staticmethod
    async def _after(previous: asyncio.Task | None, work: Callable[[], Awaitable[None]]) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        await work()

    async def _wait_running(self, timeout: float) -> None:
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)


# One per process: "at most MAX_TURNS_IN_FLIGHT" holds for all channels together.
TURNS = TurnLoop()


async def run_turn(
    sender_id: str,
    message: Callable[[MetaOutput], UserMessage],
    output: MetaOutput,
    server: RasaServer,
    log: dict[str, Any],
) -> bool:
    """Hand Rasa the message (made for each attempt's output channel) until a turn replies,
    trying again after each delay; False when no attempt replied, after the buyer was sent the
    ``NO_REPLY`` apology."""
    for delay in (*TURN_RETRY_DELAYS, None):
        attempt = output.for_turn()
        async with TURNS.slot():
            try:
                await server.on_new_message(message(attempt))
            except Exception:
                logger.exception("conversation turn failed", extra=log)
        if attempt.sends_attempted:
            return True
        if delay is not None:
            logger.warning("turn sent no reply, trying again", extra={**log, "delay": delay})
            await asyncio.sleep(delay)
    logger.error("turn sent no reply after every attempt", extra=log)
    await server.say(NO_REPLY, sender_id, output.for_turn())
    return False
