"""The webhooks the webhook benchmark sends and how it sends them: signed WhatsApp deliveries
prepared before the clock starts, sent in a closed loop (as fast as answered) or an open loop
(at a steady rate, the way Meta delivers), with each POST's status and duration."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from bench.assistant import PHONE_NUMBER_ID
from bench.clients import REQUEST_TIMEOUT, closed_loop, run_bounded
from bench.reporting import percentile_ms
from bot.meta.signature import signature_header
from devtools.whatsapp_chat import Buyer, encode, whatsapp_text_webhook

# What buyers type; nothing that reaches S3, which is not running here.
TEXTS = (
    "hi",
    "hello",
    "help",
    "where is my order",
    "I wan open account",
    "order ORD-7F3K9Q",
    "confirm",
    "resend code",
    "thanks",
    "good morning",
    "?",
    "bye",
)
NAMES = ("Ada", "Chinedu", "Bola", "Ngozi", "Tunde", "Amaka", "Emeka", "Funmi")
# Every burst message has exactly one expected reply (utter_help), so two replies to one sender
# can only mean one message was answered twice.
BURST_TEXT = "help"
CONVERSATION_SENDERS = 200
CONVERSATION_PREFIX = "234801"
BURST_PREFIX = "234902"
REDELIVERY_SHARE = 0.10
NO_ANSWER = 0
PHASE_TIMEOUT = 900.0


@dataclass(frozen=True)
class Webhook:
    """One signed POST, prepared before the clock starts."""

    wa_id: str
    body: bytes
    signature: str


@dataclass(frozen=True)
class Outcome:
    """One POST: its HTTP status (NO_ANSWER on a connection error or timeout) and duration."""

    status: int
    seconds: float


@dataclass(frozen=True)
class Run:
    target: str
    outcomes: list[Outcome]
    started_at: float
    wall_seconds: float

    @property
    def accepted(self) -> int:
        return sum(outcome.status == 200 for outcome in self.outcomes)

    @property
    def accepted_per_second(self) -> float:
        return self.accepted / self.wall_seconds

    def percentile_ms(self, percent: float) -> float:
        """Of the acknowledged requests only: the non-200s are counted apart."""
        return percentile_ms([o.seconds for o in self.outcomes if o.status == 200], percent)

    def share_slower_than(self, milliseconds: float) -> float:
        """Share of all requests not acknowledged within ``milliseconds`` (failures included)."""
        slow = sum(o.status != 200 or o.seconds * 1000 > milliseconds for o in self.outcomes)
        return slow / len(self.outcomes)


def make_webhook(text: str, wa_id: str, name: str, secret: str) -> Webhook:
    buyer = Buyer(name=name, user_id=f"NG.{wa_id}", wa_id=wa_id)
    payload = whatsapp_text_webhook(text, phone_number_id=PHONE_NUMBER_ID, buyer=buyer)
    body = encode(payload)
    return Webhook(wa_id, body, signature_header(secret, body))


def conversation_webhooks(count: int, secret: str, rng: random.Random) -> list[Webhook]:
    """Realistic texts from a pool of buyers, so many conversations advance at once."""
    webhooks = []
    for _ in range(count):
        buyer = rng.randrange(CONVERSATION_SENDERS)
        wa_id = f"{CONVERSATION_PREFIX}{buyer:07d}"
        webhooks.append(make_webhook(rng.choice(TEXTS), wa_id, NAMES[buyer % len(NAMES)], secret))
    return webhooks


def burst_webhooks(count: int, secret: str, rng: random.Random) -> tuple[list[Webhook], int]:
    """Unique messages, one per buyer, plus byte-identical redeliveries of some, shuffled."""
    redeliveries = round(count * REDELIVERY_SHARE)
    unique = [
        make_webhook(BURST_TEXT, f"{BURST_PREFIX}{i:07d}", NAMES[i % len(NAMES)], secret)
        for i in range(count - redeliveries)
    ]
    webhooks = unique + rng.sample(unique, redeliveries)
    rng.shuffle(webhooks)
    return webhooks, len(unique)


async def post_one(session: aiohttp.ClientSession, url: str, webhook: Webhook) -> Outcome:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": webhook.signature}
    started = time.perf_counter()
    try:
        async with session.post(url, data=webhook.body, headers=headers) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError):
        status = NO_ANSWER
    return Outcome(status, time.perf_counter() - started)


async def post_all(target: str, url: str, webhooks: Sequence[Webhook], concurrency: int) -> Run:
    """A closed loop of ``concurrency`` connections (``bench.clients.closed_loop``)."""
    outcomes: list[Outcome] = []

    async def send(session: aiohttp.ClientSession, webhook: Webhook) -> None:
        outcomes.append(await post_one(session, url, webhook))

    started_at = time.time()
    wall = await closed_loop(webhooks, concurrency, send, PHASE_TIMEOUT)
    return Run(target, outcomes, started_at, wall)


async def post_at_rate(target: str, url: str, webhooks: Sequence[Webhook], rate: float) -> Run:
    """An open loop: webhook *i* leaves at start + *i* / ``rate`` whether or not the earlier ones
    were answered, so a slow server shows as latency, never as fewer webhooks sent."""
    outcomes: list[Outcome] = []
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=timeout
    ) as session:
        started_at, started = time.time(), time.perf_counter()

        async def send(index: int, webhook: Webhook) -> None:
            await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
            outcomes.append(await post_one(session, url, webhook))

        tasks = [asyncio.create_task(send(i, w)) for i, w in enumerate(webhooks)]
        await run_bounded(tasks, PHASE_TIMEOUT)
        return Run(target, outcomes, started_at, time.perf_counter() - started)


def warm_up(url: str, webhooks: Sequence[Webhook], concurrency: int) -> None:
    """First connections and first database sessions are not what is measured."""
    asyncio.run(post_all("warm-up", url, webhooks, concurrency))
