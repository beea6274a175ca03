"""``python -m bench.webhooks``: how fast the WhatsApp webhook is acknowledged, and whether a burst
with redeliveries is answered exactly once.

Meta wants webhooks acknowledged quickly (median at most 250 ms, fewer than 1 % above 1 s) and
redelivers whatever it does not see acknowledged, so the acknowledgement must stay fast while the
assistant is busy with conversation turns, and a redelivery must never cause a second answer.

One run starts everything on loopback from fresh temporary files (a Graph API double, a migrated
SQLite database with one shop, the assistant as ``make run`` starts it, and a bare Sanic app as
the baseline), measures, prints Markdown tables and stops everything it started, also when it is
interrupted. The exit status is 1 when the burst lost a reply or answered a message twice.

Acknowledgements are measured two ways: a closed loop (``--concurrency`` senders, each sending
as soon as it is answered) finds how many webhooks per second each server accepts at most; an
open loop at a steady rate (``--rate`` per second, the way Meta delivers what buyers write,
whether or not earlier deliveries were answered), sent while the assistant works through the
backlog the closed loop left, shows the latency Meta sees while the assistant is busy.

    python -m bench.webhooks [--requests 2000] [--concurrency 16] [--rate 40] [--burst 500] [--keep]

Here are the two measurements and the command line; the webhooks and how they are sent are in
bench.webhook_load, what is started and watched in bench.webhook_stack, the tables in
bench.webhook_report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import random
import time
from collections import Counter
from collections.abc import Sequence

from bench.assistant import CHANNEL_HEALTH_PATH
from bench.clients import PROBE_IDLE_SAMPLES, probe, probed
from bench.reporting import markdown_table, print_section, seconds
from bench.runs import positive, run_benchmark
from bench.webhook_load import (
    burst_webhooks,
    conversation_webhooks,
    post_all,
    post_at_rate,
    warm_up,
)
from bench.webhook_report import (
    CpuClock,
    flag,
    format_states,
    goal_table,
    latency_table,
    other_work_table,
    probe_table,
    ratio_table,
)
from bench.webhook_stack import (
    Stack,
    inbox_states,
    last_inbox_id,
    replies_to,
    start,
    unfinished,
    wait_for_inbox,
    wait_for_replies,
)
from devtools.graph_double import Record, recipient_of

BURST_CONCURRENCY = 32
WARMUP_REQUESTS = 20
DRAIN_TIMEOUT = 1200.0
REPLY_TIMEOUT = 300.0
SEED = 20240601


def acknowledgement_latency(stack: Stack, args: argparse.Namespace, rng: random.Random) -> None:
    """Baseline first, while the assistant is idle, so neither slows the other down; then the
    assistant, closed loop, then at a steady rate while it works through what the closed loop
    left it."""
    count = WARMUP_REQUESTS + args.requests
    hooks = conversation_webhooks(count, stack.app_secret, rng)
    warm_up(stack.baseline, hooks[:WARMUP_REQUESTS], args.concurrency)
    baseline = asyncio.run(
        post_all("baseline (bare Sanic)", stack.baseline, hooks[WARMUP_REQUESTS:], args.concurrency)
    )
    steady = conversation_webhooks(args.steady_requests, stack.app_secret, rng)
    baseline_steady = asyncio.run(
        post_at_rate("baseline (bare Sanic)", stack.baseline, steady, args.rate)
    )

    hooks = conversation_webhooks(count, stack.app_secret, rng)
    idle_probe = asyncio.run(probe(stack.probe, PROBE_IDLE_SAMPLES))
    first_row = last_inbox_id(stack.database)
    first_post = time.time()
    warm_up(stack.assistant, hooks[:WARMUP_REQUESTS], args.concurrency)
    assistant, busy_probe = asyncio.run(
        probed(
            post_all("assistant", stack.assistant, hooks[WARMUP_REQUESTS:], args.concurrency),
            stack.probe,
        )
    )
    backlog = unfinished(stack.database, first_row)
    steady = conversation_webhooks(args.steady_requests, stack.app_secret, rng)
    assistant_steady = asyncio.run(post_at_rate("assistant", stack.assistant, steady, args.rate))
    backlog_after_steady = unfinished(stack.database, first_row)
    drained = wait_for_inbox(stack.database, first_row, DRAIN_TIMEOUT)
    busy = time.time() - first_post

    title = f"Most accepted: closed loop ({args.requests} webhooks each, "
    title += f"concurrency {args.concurrency})"
    print_section(title, latency_table([assistant, baseline]))
    print_section("Assistant / baseline, closed loop", ratio_table(assistant, baseline))
    title = f"While busy: steady {args.rate:g} webhooks/s ({args.steady_requests} each, open loop)"
    print_section(title, latency_table([assistant_steady, baseline_steady]))
    print_section(
        "Assistant / baseline, steady rate", ratio_table(assistant_steady, baseline_steady)
    )
    print_section("Goals (steady rate, while busy)", goal_table(assistant_steady))
    print_section("Goals (closed loop, saturated)", goal_table(assistant))
    print_section(
        f"Event-loop probe: GET {CHANNEL_HEALTH_PATH}", probe_table(idle_probe, busy_probe)
    )
    states = inbox_states(stack.database, first_row)
    rows = [
        ["webhooks stored in the inbox (warm-up included)", sum(states.values())],
        ["unprocessed when the closed loop ended", backlog],
        ["unprocessed when the steady phase ended", backlog_after_steady],
        ["all processed", f"yes, {seconds(busy)} after the first POST" if drained else "**no**"],
        ["turns processed per second", f"{states.get('done', 0) / busy:.1f}"],
        ["inbox states", format_states(states)],
    ]
    print_section("Conversation turns behind the acknowledgements", markdown_table(["", ""], rows))


def last_reply_at(replies: Sequence[Record]) -> float:
    return max(dt.datetime.fromisoformat(record["received_at"]).timestamp() for record in replies)


def exactly_once_burst(stack: Stack, args: argparse.Namespace, rng: random.Random) -> bool:
    """True when every unique message got exactly one reply, redeliveries included."""
    webhooks, unique = burst_webhooks(args.burst, stack.app_secret, rng)
    recipients = sorted({webhook.wa_id for webhook in webhooks})
    first_row = last_inbox_id(stack.database)
    run = asyncio.run(post_all("burst", stack.assistant, webhooks, BURST_CONCURRENCY))
    wait_for_replies(stack.graph, recipients, REPLY_TIMEOUT)
    # A second answer could only come from a second inbox row: once none is left, all is said.
    wait_for_inbox(stack.database, first_row, REPLY_TIMEOUT)
    replies = replies_to(stack.graph, recipients)
    per_recipient = Counter(recipient_of(record["body"]) for record in replies)
    duplicates = sum(count > 1 for count in per_recipient.values())
    lost = sum(recipient not in per_recipient for recipient in recipients)
    failed_sends = sum(record["status"] != 200 for record in replies)
    to_last_reply = last_reply_at(replies) - run.started_at if replies else math.nan
    rows = [
        ["unique messages", unique],
        ["redeliveries (same body, same signature)", len(webhooks) - unique],
        ["POSTs answered 200", f"{run.accepted} of {len(webhooks)}"],
        ["acknowledgement p50", f"{run.percentile_ms(50):.1f} ms"],
        ["acknowledgement p99", f"{run.percentile_ms(99):.1f} ms"],
        ["replies received", len(replies)],
        ["replies the Graph API double refused", failed_sends],
        ["duplicate replies (recipients with more than one)", flag(duplicates)],
        ["lost (unique messages without a reply)", flag(lost)],
        ["first POST to last reply", seconds(to_last_reply)],
        ["inbox states", format_states(inbox_states(stack.database, first_row))],
    ]
    title = f"Burst ({len(webhooks)} webhooks, concurrency {BURST_CONCURRENCY})"
    print_section(title, markdown_table(["", ""], rows))
    return duplicates == 0 and lost == 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--requests", type=positive, default=2000, help="per target")
    parser.add_argument("--concurrency", type=positive, default=16)
    parser.add_argument("--rate", type=positive, default=40, help="webhooks/s, steady phase")
    parser.add_argument("--steady-requests", type=positive, default=1000, help="per target")
    parser.add_argument("--burst", type=positive, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    return parser.parse_args(argv)


def measure_all(args: argparse.Namespace) -> int:
    """Both measurements on one stack; 1 when the burst lost a reply or answered twice."""
    rng = random.Random(SEED)
    clock, began = CpuClock.read(), time.monotonic()
    with contextlib.ExitStack() as stack:
        started = start(stack, args.keep)
        acknowledgement_latency(started, args, rng)
        exactly_once = exactly_once_burst(started, args, rng)
    wall = time.monotonic() - began
    print_section("Other work on the machine", other_work_table(clock, CpuClock.read(), wall))
    return 0 if exactly_once else 1


def main(argv: list[str] | None = None) -> int:
    return run_benchmark("Webhook benchmark", "bench.webhooks", parse_args, measure_all, argv)


if __name__ == "__main__":
    raise SystemExit(main())
