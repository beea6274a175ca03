"""Whole buyer conversations, driven at a fixed concurrency through the REST or the WhatsApp
channel, for ``bench.pipeline``.

A buyer waits for the reply before typing again, so each conversation is a closed loop and a
turn's latency is what the buyer waits: the HTTP round trip on REST, and from the signed webhook
leaving the buyer to the reply reaching the Graph API double on WhatsApp. The turns follow a real
journey (greet, verify with the code the greeting carried, ask about the order, confirm it, help,
thanks, bye), so every turn runs its real action, database work and response generator.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy.orm import Session

from bench.clients import closed_loop
from bench.reporting import percentile_ms
from bot.meta.signature import signature_header
from bot.platform.db import engine_for
from bot.platform.patterns import OTP_CODE_PATTERN
from bot.shop import buyers, orders
from devtools import whatsapp_chat
from devtools.graph_double import GraphDouble, Record, describe, recipient_of
from devtools.whatsapp_chat import encode, whatsapp_text_webhook

TURN_TIMEOUT = 30.0
PHASE_TIMEOUT = 1800.0
LOOP_TIMEOUT = 30.0
ORDER_KOBO = 2_500_000
ORDER_DESCRIPTION = "Ankara fabric, 6 yards"
CODE_RE = re.compile(OTP_CODE_PATTERN)


@dataclass(frozen=True)
class Step:
    """One turn of the journey: what buyers type (one is picked) and what the reply must say."""

    name: str
    texts: tuple[str, ...]
    expect: str


# {code} is the one-time code the greeting carried, {order} the buyer's order id.
JOURNEY = (
    Step("greet", ("hi", "hello", "good morning", "how far"), r"one-time code"),
    Step("verify", ("verify {code}", "{code}", "my code is {code}"), r"verified"),
    Step("status", ("order {order}", "where is {order}", "status of {order}"), r"{order}"),
    Step("confirm", ("confirm {order}", "confirm", "abeg confirm my order"), r"confirmed"),
    Step("help", ("help", "?", "what can you do"), r"what I can do"),
    Step("thanks", ("thanks", "thank you o", "tnx"), r"welcome"),
    Step("bye", ("bye", "bye bye", "ok bye"), r"Bye"),
)


@dataclass(frozen=True)
class Buyer:
    """A buyer with one pending order; ``script`` picks the texts they type, so two buyers with
    the same script hold the same conversation whatever their ids."""

    user_id: str
    order_id: str
    script: str


@dataclass(frozen=True)
class Turn:
    step: str
    seconds: float
    answered: bool
    expected: bool


@dataclass(frozen=True)
class LoadRun:
    """The turns of one (channel, concurrency) point, with the wall time they took."""

    channel: str
    concurrency: int
    turns: list[Turn]
    wall_seconds: float

    @property
    def answered(self) -> list[Turn]:
        return [turn for turn in self.turns if turn.answered]

    @property
    def turns_per_second(self) -> float:
        return len(self.answered) / self.wall_seconds

    @property
    def expected_share(self) -> float:
        return sum(turn.expected for turn in self.turns) / len(self.turns)

    def percentile_ms(self, percent: float) -> float:
        return percentile_ms([turn.seconds for turn in self.answered], percent)


def create_buyers(
    database_url: str, shop_id: str, channel: str, user_ids: Sequence[str], scripts: Sequence[str]
) -> list[Buyer]:
    """Each buyer with one pending order, as a shop creates them before the buyer writes."""
    with Session(engine_for(database_url), future=True) as session, session.begin():
        created = []
        for user_id, script in zip(user_ids, scripts, strict=True):
            buyer, _ = buyers.get_or_create_buyer(session, shop_id, channel, user_id)
            order = orders.create_order(session, buyer, ORDER_KOBO, ORDER_DESCRIPTION)
            created.append(Buyer(user_id, order.id, script))
        return created


# The channels: each ``say`` returns the reply text and the seconds the buyer waited, or None.

Say = Callable[[aiohttp.ClientSession, str, str], Awaitable[tuple[str, float] | None]]


class RestChannel:
    name = "rest"

    def __init__(self, url: str) -> None:
        self._url = url + "/webhooks/rest/webhook"

    async def say(
        self, session: aiohttp.ClientSession, user_id: str, text: str
    ) -> tuple[str, float] | None:
        started = time.perf_counter()
        try:
            async with session.post(self._url, json={"sender": user_id, "message": text}) as reply:
                messages = await reply.json() if reply.status == 200 else None
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return None
        if not messages:
            return None
        texts = [str(message.get("text", "")) for message in messages]
        return "\n".join(texts), time.perf_counter() - started


class ReplyWaiters:
    """Hands each send the Graph API double records to the buyer waiting for it.

    Runs on the double's event loop (``on_send`` is called there), so no locking is needed.
    A send nobody waits for is counted: it would mean a turn answered twice or too late.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future] = {}
        self.unclaimed = 0

    def expect(self, recipient: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._waiting[recipient] = future
        return future

    def forget(self, recipient: str) -> None:
        self._waiting.pop(recipient, None)

    def on_send(self, record: Record) -> None:
        arrived = time.perf_counter()
        future = self._waiting.pop(recipient_of(record["body"]) or "", None)
        if future is None or future.done():
            self.unclaimed += 1
            return
        future.set_result((describe(record["body"]), arrived))


class WhatsAppChannel:
    name = "whatsapp"

    def __init__(
        self, webhook_url: str, app_secret: str, phone_number_id: str, waiters: ReplyWaiters
    ) -> None:
        self._url = webhook_url
        self._secret = app_secret
        self._phone_number_id = phone_number_id
        self._waiters = waiters

    async def say(
        self, session: aiohttp.ClientSession, user_id: str, text: str
    ) -> tuple[str, float] | None:
        buyer = whatsapp_chat.Buyer(name="Ada", user_id=f"NG.{user_id}", wa_id=user_id)
        payload = whatsapp_text_webhook(text, phone_number_id=self._phone_number_id, buyer=buyer)
        body = encode(payload)
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature_header(self._secret, body),
        }
        reply = self._waiters.expect(user_id)
        started = time.perf_counter()
        try:
            async with session.post(self._url, data=body, headers=headers) as response:
                await response.read()
                acknowledged = response.status == 200
            if not acknowledged:
                return None
            text_out, arrived = await asyncio.wait_for(reply, TURN_TIMEOUT)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            self._waiters.forget(user_id)
            return None
        return text_out, arrived - started


class Budget:
    """The turns left at this point; a conversation stops mid-way when they run out."""

    def __init__(self, turns: int) -> None:
        self._left = turns

    @property
    def spent(self) -> bool:
        return self._left <= 0

    def take(self) -> bool:
        if self.spent:
            return False
        self._left -= 1
        return True


async def converse(
    say: Say, session: aiohttp.ClientSession, buyer: Buyer, budget: Budget, turns: list[Turn]
) -> None:
    """One buyer's journey. The texts depend only on the buyer's script, so every configuration
    is sent exactly the same conversations."""
    rng = random.Random(buyer.script)
    code = ""
    for step in JOURNEY:
        if not budget.take():
            return
        text = rng.choice(step.texts).format(code=code, order=buyer.order_id).strip()
        reply = await say(session, buyer.user_id, text or "?")
        if reply is None:
            turns.append(Turn(step.name, TURN_TIMEOUT, answered=False, expected=False))
            return
        reply_text, seconds = reply
        expected = re.search(step.expect.format(order=re.escape(buyer.order_id)), reply_text)
        turns.append(Turn(step.name, seconds, answered=True, expected=expected is not None))
        if step.name == "greet":
            found = CODE_RE.search(reply_text)
            code = found.group(0) if found else ""


async def drive(
    say: Say, channel: str, pool: Sequence[Buyer], turns: int, concurrency: int
) -> LoadRun:
    """``concurrency`` buyers at a time, each starting the next conversation of ``pool`` when
    theirs ends, until ``turns`` turns were sent."""
    budget = Budget(turns)
    done: list[Turn] = []

    async def converse_with(session: aiohttp.ClientSession, buyer: Buyer) -> None:
        await converse(say, session, buyer, budget, done)

    pending = itertools.takewhile(lambda _: not budget.spent, pool)
    wall = await closed_loop(pending, concurrency, converse_with, PHASE_TIMEOUT, TURN_TIMEOUT)
    return LoadRun(channel, concurrency, done, wall)


def conversations_needed(turns: int, concurrency: int) -> int:
    """Enough buyers for ``turns`` turns even when every buyer's last conversation is cut short."""
    return math.ceil(turns / len(JOURNEY)) + concurrency


class BenchLoop:
    """An event loop in a thread that hosts the Graph API double and the load clients, so the
    double's ``on_send`` and the buyers waiting for replies share one loop and one clock."""

    def __init__(self) -> None:
        self.waiters = ReplyWaiters()
        self.double = GraphDouble(on_send=self.waiters.on_send)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench", daemon=True)

    def __enter__(self) -> BenchLoop:
        self._thread.start()
        self.run(self.double.start("127.0.0.1", 0), LOOP_TIMEOUT)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.run(self.double.stop(), LOOP_TIMEOUT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=LOOP_TIMEOUT)
            self._loop.close()

    def run(self, coroutine: Awaitable[Any], timeout: float = PHASE_TIMEOUT) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=timeout)
