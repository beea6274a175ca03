"""Conversation turns of every Meta channel of a process, on one event loop of their own.

A turn holds its loop for the model's inference; webhooks acknowledged on the same loop would
wait behind every turn in progress. Here the server's loop only verifies, stores and answers, and
one loop in one thread claims messages from the inbox and runs their turns: at most
``MAX_TURNS_IN_FLIGHT`` at once. The inbox is the queue of every turn server: a claim is a lease,
renewed while the turn runs, so a server that dies has its messages taken over by another, and a
conversation's messages are answered one at a time, in the order they arrived, on any server.
A new message wakes the claimer at once (directly, or through PostgreSQL's NOTIFY from another
process); polling covers what a wake-up missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rasa.core.channels.channel import UserMessage

from bot.meta import inbox
from bot.platform import notify
from bot.platform.models import InboxState
from bot.platform.settings import get_settings
from connectors.meta.output import MetaOutput
from connectors.meta.server import RasaServer

logger = logging.getLogger(__name__)

# Turns started at once: a burst of new buyers otherwise starts hundreds of turns together, whose
# idle connections to the action server outlive its keep-alive and fail (replies lost).
MAX_TURNS_IN_FLIGHT = 8
# Seconds between looks at the inbox when nothing woke the claimer: a lease that ran out, a
# notification lost while the database was away.
POLL_SECONDS = 1.0
# Seconds before each new attempt at a turn that sent nothing: Rasa logs a failed custom action
# and carries on without its events, so a turn with no reply is how a failure shows here.
TURN_RETRY_DELAYS = (1.0, 4.0, 15.0)
# Seconds a thread may hold the GIL while another waits (Python's default: 0.005). Both threads
# share one GIL: by default an acknowledgement waits up to 5 ms for a turn each time it needs the
# GIL back.
GIL_SWITCH_INTERVAL = 0.001
# The domain response a buyer gets when no attempt at a turn replied.
NO_REPLY = "utter_no_reply"

Process = Callable[[inbox.Claimed], Awaitable[None]]


class TurnWorker:
    """The claimer and the turns it starts, on an event loop in a thread (started on first use).
    Channels register what processes their messages; the claimer takes only those channels'."""

    def __init__(self) -> None:
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._processes: dict[str, Process] = {}
        self._claimer: asyncio.Task | None = None
        self._wakeup: asyncio.Event | None = None
        self._running: set[asyncio.Task] = set()
        # Times the claimer found nothing to claim and no turn running: the worker was idle.
        self._idle_looks = 0
        self._listener: notify.Listener | None = None

    def serve(self, channel: str, process: Process) -> None:
        """Claim and process the channel's messages from now on (thread-safe)."""
        loop = self._started()
        with self._lock:
            url = get_settings().database_url
            if self._listener is None and notify.listens(url):
                self._listener = notify.Listener(url, inbox.INBOX_TOPIC, self.wake)
                self._listener.start()
        loop.call_soon_threadsafe(self._serve, channel, process)

    def wake(self) -> None:
        """A message may be waiting: look now (thread-safe)."""
        with self._lock:
            loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)

    def stop_serving(self, channel: str, timeout: float) -> None:
        """Answer what this server can claim now, then stop claiming the channel's messages
        (from another thread); what is left after ``timeout`` is taken over by another server,
        or on restart."""
        self.run(self._stop(channel, timeout - 5), timeout)
        if not self._processes:
            with self._lock:
                listener, self._listener = self._listener, None
            if listener is not None:
                listener.stop()

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

    def _serve(self, channel: str, process: Process) -> None:
        self._processes[channel] = process
        if self._claimer is None or self._claimer.done():
            self._wakeup = asyncio.Event()
            self._claimer = asyncio.get_running_loop().create_task(self._claim())
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def _claim(self) -> None:
        assert self._wakeup is not None
        slots = asyncio.Semaphore(MAX_TURNS_IN_FLIGHT)
        lease = dt.timedelta(seconds=get_settings().inbox_lease_seconds)
        while True:
            await slots.acquire()
            # Cleared before looking, so a wake-up that comes while we look is not lost.
            self._wakeup.clear()
            quiet = not self._running
            try:
                claimed = await asyncio.to_thread(
                    inbox.take_next, self.name, lease, tuple(self._processes)
                )
            except Exception as error:  # the database is away: look again later
                logger.warning("inbox not reachable", extra={"error": type(error).__name__})
                claimed = None
            if claimed is None:
                slots.release()
                # Idle only if nothing ran or arrived while we looked: a turn that ended meanwhile
                # may have let its conversation's next message go.
                if quiet and not self._running and not self._wakeup.is_set():
                    self._idle_looks += 1
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), POLL_SECONDS)
                continue
            task = asyncio.get_running_loop().create_task(self._turn(claimed, lease))
            self._running.add(task)

            def done(finished: asyncio.Task) -> None:
                self._running.discard(finished)
                slots.release()
                # The conversation's next message, held back while this one ran, may go now.
                self._wake()

            task.add_done_callback(done)

    async def _turn(self, claimed: inbox.Claimed, lease: dt.timedelta) -> None:
        renewing = asyncio.get_running_loop().create_task(self._renew(claimed, lease))
        try:
            await self._processes[claimed.channel](claimed)
        except Exception:
            logger.exception(
                "message processing failed",
                extra={"channel": claimed.channel, "inbox_id": claimed.inbox_id},
            )
            await asyncio.to_thread(
                inbox.close, claimed.inbox_id, InboxState.FAILED, "processing error"
            )
        finally:
            renewing.cancel()

    async def _renew(self, claimed: inbox.Claimed, lease: dt.timedelta) -> None:
        """Keep the claim while the turn runs (a third of the lease at a time)."""
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            try:
                held = await asyncio.to_thread(inbox.extend, claimed.inbox_id, self.name, lease)
            except Exception as error:
                logger.warning("lease not renewed", extra={"error": type(error).__name__})
                continue
            if not held:
                logger.warning(
                    "claim lost to another server mid-turn",
                    extra={"channel": claimed.channel, "inbox_id": claimed.inbox_id},
                )
                return

    async def _stop(self, channel: str, timeout: float) -> None:
        """Wait until the claimer has found nothing left to do, then let go of the channel; the
        claimer stops with the last channel. Two idle looks: the first may have begun before
        the stop was asked for."""
        looks, deadline = self._idle_looks, asyncio.get_running_loop().time() + timeout
        while self._idle_looks < looks + 2 and self._claimer is not None:
            self._wake()
            if asyncio.get_running_loop().time() > deadline:
                logger.warning("stopped with turns unfinished", extra={"channel": channel})
                break
            await asyncio.sleep(0.02)
        self._processes.pop(channel, None)
        if not self._processes and self._claimer is not None:
            self._claimer.cancel()
            self._claimer = None
            if self._running:
                await asyncio.wait(set(self._running), timeout=5)


# One per process: "at most MAX_TURNS_IN_FLIGHT" holds for all channels together.
TURNS = TurnWorker()


async def run_turn(
    inbox_id: int,
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
        attempt = output.for_turn(inbox_id)
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
    await server.say(NO_REPLY, sender_id, output.for_turn(inbox_id))
    return False
