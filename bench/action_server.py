"""``python -m bench.action_server``: does the action server keep its event loop free while the
actions wait for the database?

Every shop action does its database work in a worker thread (``asyncio.to_thread``), so many
action calls can be in flight at once. If one blocked the loop, 16 concurrent callers would get
no more requests per second than 1 and a health check sent meanwhile would wait as long as an
action. This starts ``python -m actions`` as ``make run`` does, on a fresh migrated SQLite
database with one shop and verified buyers who have orders, and POSTs to its /webhook the exact
JSON the Rasa server sends (``RemoteAction._action_call_format``: tracker with its events, the
whole domain, the Rasa version), built with Rasa's own tracker and domain classes:

- ``action_order_status`` for a verified buyer asking about their order (reads), and
- ``action_register_buyer`` for a buyer writing for the first time (writes a buyer, a one-time
  code and an audit row),

alternating, first from 1 client and then from 16 concurrent clients, while ``GET /health`` is
probed every 50 ms. Prints Markdown tables and stops the server, also when interrupted.

    python -m bench.action_server [--requests 2000] [--concurrency 16] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.orm import Session

from actions.server import TOKEN_HEADER
from bench.assistant import SHOP_ID, SHOP_NAME, assistant_env, prepare_database
from bench.clients import PROBE_IDLE_SAMPLES, closed_loop, probe, probed
from bench.processes import START_TIMEOUT, running
from bench.procfs import cpu_seconds, rss_mib
from bench.reporting import markdown_table, percentile_ms, print_section
from bench.runs import in_temporary_workdir, positive, run_benchmark
from bot.platform.db import engine_for
from bot.platform.readiness import wait_until_ready
from bot.platform.settings import PROJECT_ROOT
from bot.shop import buyers, orders

VERIFIED_BUYERS = 200
VERIFIED_PREFIX = "2348100"
NEW_PREFIX = "2349"
WARMUP_REQUESTS = 40
PHASE_TIMEOUT = 900.0
# What each action must answer with: a wrong answer would make a fast run meaningless.
EXPECTED = {
    "action_order_status": "utter_order_status",
    "action_register_buyer": "utter_welcome_new",
}


@dataclass(frozen=True)
class Call:
    """One POST to /webhook, encoded before the clock starts."""

    action: str
    body: bytes


@dataclass(frozen=True)
class Result:
    seconds: float
    right: bool


@dataclass(frozen=True)
class Run:
    clients: int
    results: list[Result]
    wall_seconds: float
    probe: list[float]
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return len(self.results) / self.wall_seconds

    def percentile_ms(self, percent: float) -> float:
        return percentile_ms([result.seconds for result in self.results], percent)


# What the Rasa server sends


def load_domain() -> Any:
    """The domain as Rasa loads it (its slot auto-fill notice is not ours to fix here)."""
    from rasa.shared.core.domain import Domain

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Domain.load(str(PROJECT_ROOT / "domain.yml"))


def tracker_state(
    domain: Any, wa_id: str, text: str, intent: str, order_id: str | None = None
) -> dict:
    """``tracker.current_state(EventVerbosity.ALL)`` of a WhatsApp conversation whose newest
    message is ``text``; about an order (with its id as RegexEntityExtractor finds it) once the
    buyer registered and verified."""
    from rasa.shared.core.events import (
        ActionExecuted,
        BotUttered,
        SessionStarted,
        SlotSet,
        UserUttered,
    )
    from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

    metadata = {"shop_id": SHOP_ID, "channel": "whatsapp", "user_id": wa_id, "user_name": "Ada"}

    def said(said_text: str, said_intent: str, entities: list[dict]) -> UserUttered:
        parse = {"name": said_intent, "confidence": 0.98}
        return UserUttered(said_text, parse, entities, metadata=metadata, input_channel="whatsapp")

    events = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        SlotSet("shop_id", SHOP_ID),
        SlotSet("shop_name", SHOP_NAME),
        SlotSet("channel", "whatsapp"),
        SlotSet("buyer_name", "Ada"),
        ActionExecuted("action_listen"),
    ]
    entities = []
    if order_id:
        events += [
            said("hi", "greet", []),
            ActionExecuted("action_register_buyer"),
            BotUttered("Welcome! Here is your one-time code: [redacted]"),
            ActionExecuted("action_listen"),
            said("verify [redacted]", "verify_otp", []),
            ActionExecuted("action_verify_code"),
            BotUttered("✅ You're verified!"),
            ActionExecuted("action_listen"),
        ]
        start = text.index(order_id)
        entities = [{"entity": "order_id", "start": start, "end": start + len(order_id),
                     "value": order_id, "extractor": "RegexEntityExtractor"}]  # fmt: skip
    events.append(said(text, intent, entities))
    sender_id = f"{SHOP_ID}:whatsapp:{wa_id}"
    tracker = DialogueStateTracker.from_events(sender_id, events, slots=domain.slots)
    return tracker.current_state(EventVerbosity.ALL)


def action_call(domain: dict, action: str, wa_id: str, state: dict) -> Call:
    payload = {
        "next_action": action,
        "sender_id": f"{SHOP_ID}:whatsapp:{wa_id}",
        "tracker": state,
        "domain": domain,
        "version": importlib.metadata.version("rasa"),
    }
    return Call(action, json.dumps(payload).encode())


def create_verified_buyers(database_url: str, count: int) -> list[tuple[str, str]]:
    """(wa_id, order id) of verified buyers, each with one pending order."""
    with Session(engine_for(database_url), future=True) as session, session.begin():
        created = []
        for index in range(count):
            wa_id = f"{VERIFIED_PREFIX}{index:05d}"
            buyer, _ = buyers.get_or_create_buyer(session, SHOP_ID, "whatsapp", wa_id)
            buyers.mark_verified(buyer)
            order = orders.create_order(session, buyer, 2_500_000, "Ankara fabric, 6 yards")
            created.append((wa_id, order.id))
        return created


def build_calls(
    domain: Any, verified: Sequence[tuple[str, str]], count: int, run: int
) -> list[Call]:
    """Alternating status checks of verified buyers and registrations of new ones (a new number
    every time, so every registration writes)."""
    as_sent = domain.as_dict()
    calls = []
    for index in range(count):
        if index % 2 == 0:
            wa_id, order_id = verified[(index // 2) % len(verified)]
            state = tracker_state(domain, wa_id, f"order {order_id}", "order_status", order_id)
            calls.append(action_call(as_sent, "action_order_status", wa_id, state))
        else:
            wa_id = f"{NEW_PREFIX}{run:02d}{index:07d}"
            state = tracker_state(domain, wa_id, "hi", "greet")
            calls.append(action_call(as_sent, "action_register_buyer", wa_id, state))
    return calls


# The client


async def post_one(session: aiohttp.ClientSession, url: str, call: Call, token: str) -> Result:
    started = time.perf_counter()
    right = False
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        headers = {"Content-Type": "application/json", TOKEN_HEADER: token}
        async with session.post(url, data=call.body, headers=headers) as response:
            answer = await response.json() if response.status == 200 else {}
        responses = [r.get("response") for r in answer.get("responses", [])]
        right = responses == [EXPECTED[call.action]]
    return Result(time.perf_counter() - started, right)


async def post_all(
    base: str, calls: Sequence[Call], clients: int, pid: int, token: str
) -> tuple[list[Result], float, float]:
    """A closed loop of ``clients`` connections (``bench.clients.closed_loop``); the results,
    the wall time and the action server's CPU time."""
    results: list[Result] = []

    async def send(session: aiohttp.ClientSession, call: Call) -> None:
        results.append(await post_one(session, base + "/webhook", call, token))

    cpu = cpu_seconds(pid)
    wall = await closed_loop(calls, clients, send, PHASE_TIMEOUT)
    return results, wall, cpu_seconds(pid) - cpu


def measure(base: str, calls: Sequence[Call], clients: int, pid: int, token: str) -> Run:
    """With the health probe running alongside."""
    work = post_all(base, calls, clients, pid, token)
    (results, wall, cpu), probe_latencies = asyncio.run(probed(work, base + "/health"))
    return Run(clients, results, wall, probe_latencies, cpu)


# Reporting


def runs_table(runs: Sequence[Run]) -> str:
    rows = [
        [
            run.clients, len(run.results), sum(not r.right for r in run.results),
            f"{run.per_second:.0f}", *(f"{run.percentile_ms(p):.1f}" for p in (50, 95, 99)),
            f"{percentile_ms(run.probe, 50):.1f}", f"{percentile_ms(run.probe, 99):.1f}",
            f"{run.cpu_seconds / run.wall_seconds:.0%}",
        ]
        for run in runs
    ]  # fmt: skip
    headers = ["clients", "requests", "wrong answers", "requests/s", "p50 ms", "p95 ms", "p99 ms"]
    headers += ["/health p50 ms", "/health p99 ms", "action server CPU"]
    return markdown_table(headers, rows)


def scaling_table(single: Run, many: Run, idle_probe: Sequence[float]) -> str:
    rows = [
        [
            f"requests/s, {many.clients} clients / 1 client",
            f"{many.per_second / single.per_second:.2f}x",
        ],
        ["/health p99 idle", f"{percentile_ms(idle_probe, 99):.1f} ms"],
        [f"/health p99 with {many.clients} clients", f"{percentile_ms(many.probe, 99):.1f} ms"],
        [f"action p50 with {many.clients} clients", f"{many.percentile_ms(50):.1f} ms"],
    ]  # fmt: skip
    return markdown_table(["", ""], rows)


# The run


def run(args: argparse.Namespace, workdir: Path) -> None:
    env = assistant_env(workdir, "http://127.0.0.1:9", "unused-app-secret")
    prepare_database(env)
    verified = create_verified_buyers(env["DATABASE_URL"], VERIFIED_BUYERS)
    domain = load_domain()
    warmup = build_calls(domain, verified, WARMUP_REQUESTS, 0)
    single = build_calls(domain, verified, args.requests, 1)
    many = build_calls(domain, verified, args.requests, 2)
    size = sum(len(call.body) for call in single) / len(single)
    base = f"http://127.0.0.1:{env['ACTIONS_PORT']}"
    command = [sys.executable, "-m", "actions"]
    with running(command, env, workdir / "actions.log") as server:
        wait_until_ready(base + "/health", server, START_TIMEOUT, what="the action server")
        token = env["ACTION_SERVER_TOKEN"]
        measure(base, warmup, 4, server.pid, token)
        idle = asyncio.run(probe(base + "/health", PROBE_IDLE_SAMPLES))
        runs = [
            measure(base, single, 1, server.pid, token),
            measure(base, many, args.concurrency, server.pid, token),
        ]
        memory = rss_mib(server.pid)
    title = f"Action server ({args.requests} calls per row, {size / 1024:.0f} KiB each)"
    print_section(title, runs_table(runs))
    print_section("Scaling and the event loop", scaling_table(runs[0], runs[1], idle))
    print_section("Memory", f"Action server RSS after the run: {memory:.0f} MiB")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.action_server", description=__doc__)
    parser.add_argument("--requests", type=positive, default=2000, help="per client count")
    parser.add_argument("--concurrency", type=positive, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the database and the log")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    body = in_temporary_workdir("trustguard-actions-", "the database and the log", run)
    return run_benchmark("Action server benchmark", "bench.action_server", parse_args, body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
