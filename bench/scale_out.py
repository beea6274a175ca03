"""``python -m bench.scale_out``: ``make cluster`` on this machine's PostgreSQL and Redis.

Three questions, each answered in one run that starts a fresh cluster (its own database and
Redis database) per number of turn servers, and a bare Sanic app as the baseline:

- How fast is a webhook acknowledged while the turn servers are saturated? A burst of distinct
  buyers' messages (with Meta's redeliveries among them) fills the inbox, then webhooks arrive at
  a steady rate (an open loop, as Meta delivers) while the turn servers work through it; the bare
  Sanic app gets the same steady load in the same run, for scale. Goal: p99 < 100 ms.
- How many turns per second do 1 and 2 turn servers answer on this machine?
- How much memory does each process take (resident set, after the burst)?

Every burst message expects exactly one reply; the run fails (exit status 1) if a buyer got none
or two.

    python -m bench.scale_out [--servers 1 2] [--burst 300] [--rate 20] [--steady 400] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import redis
import sqlalchemy as sa

from bench.assistant import WEBHOOK_PATH, assistant_env, prepare_database
from bench.cluster_stack import RunningCluster, empty_redis_database
from bench.processes import START_TIMEOUT, running
from bench.procfs import process_tree, rss_mib
from bench.reporting import markdown_table, print_section, progress, verdict
from bench.runs import positive, run_benchmark, temporary_workdir
from bench.webhook_load import (
    Run,
    burst_webhooks,
    conversation_webhooks,
    post_all,
    post_at_rate,
    warm_up,
)
from bench.webhook_report import GOAL_P99_MS, latency_table
from bench.webhook_stack import replies_to
from bot.platform.readiness import wait_until_ready
from bot.platform.settings import PROJECT_ROOT
from devtools.graph_double import GraphDoubleThread, recipient_of
from devtools.ports import free_port, free_ports_in_a_row
from tests.helpers.postgres import throwaway_database

BURST_CONCURRENCY = 32
WARMUP = 20
DRAIN_TIMEOUT = 1800.0
CHART = PROJECT_ROOT / "docs" / "scale_out.png"
SEED = 20261206


@dataclass(frozen=True)
class Result:
    servers: int
    steady: Run
    baseline: Run
    turns_per_second: float
    backlog_at_steady_end: int
    memory_mib: dict[str, list[float]]
    replies_per_buyer: Counter[int]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out")
    parser.add_argument("--servers", type=positive, nargs="+", default=[1, 2])
    parser.add_argument("--burst", type=positive, default=300, help="burst webhooks")
    parser.add_argument("--rate", type=float, default=20.0, help="steady webhooks per second")
    parser.add_argument("--steady", type=positive, default=400, help="steady webhooks")
    parser.add_argument("--keep", action="store_true", help="keep the run's logs")
    return parser.parse_args(argv)


def unfinished(url: str) -> int:
    engine = sa.create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text(
                    "SELECT COUNT(*) FROM inbox_messages WHERE state IN ('received', 'processing')"
                )
            ).scalar_one()
    finally:
        engine.dispose()


def wait_until_drained(url: str) -> float:
    """Seconds until no inbox message is waiting or being answered."""
    started = time.perf_counter()
    while unfinished(url):
        if time.perf_counter() - started > DRAIN_TIMEOUT:
            raise RuntimeError("the turn servers did not drain the inbox")
        time.sleep(0.25)
    return time.perf_counter()


def memory(cluster: RunningCluster) -> dict[str, list[float]]:
    """Resident MiB per process of each role (a process with its children, as Rasa's)."""
    by_role: dict[str, list[float]] = {}
    for member in cluster.members:
        total = sum(rss_mib(pid) for pid in process_tree(member["pid"]))
        by_role.setdefault(member["role"], []).append(total)
    return by_role


def measure(servers: int, args: argparse.Namespace, workdir: Path, baseline: str) -> Result:
    rng = random.Random(SEED)
    with contextlib.ExitStack() as stack:
        graph = stack.enter_context(GraphDoubleThread())
        database = stack.enter_context(throwaway_database())
        lock_db = empty_redis_database()
        stack.callback(redis.Redis.from_url(lock_db).flushdb)
        secret = "bench-" + str(rng.getrandbits(64))
        env = {
            **assistant_env(workdir, graph.url, secret),
            "DATABASE_URL": database,
            "TRACKER_STORE_URL": database,
            "REDIS_URL": lock_db,
            "RASA_SERVERS": str(servers),
            "RASA_PORT": str(free_ports_in_a_row(servers + 1)),
            "API_PORT": str(free_port()),
        }
        env.pop("ACTION_ENDPOINT_URL")  # the cluster's action server port decides it
        prepare_database(env)
        progress(f"starting a cluster with {servers} turn server(s)")
        cluster = RunningCluster(env, workdir / f"cluster-{servers}.log")
        stack.callback(cluster.stop)
        ingest = cluster.url + WEBHOOK_PATH

        warm_up(ingest, conversation_webhooks(WARMUP, secret, rng), 4)
        wait_until_drained(database)
        burst, buyers = burst_webhooks(args.burst, secret, rng)
        steady = conversation_webhooks(args.steady, secret, rng)
        baseline_steady = conversation_webhooks(args.steady, secret, rng)
        progress(f"burst of {len(burst)} webhooks, then {args.steady} at {args.rate:g}/s")
        first_post = time.perf_counter()
        asyncio.run(post_all("burst", ingest, burst, BURST_CONCURRENCY))
        measured = asyncio.run(post_at_rate(f"{servers} turn server(s)", ingest, steady, args.rate))
        backlog = unfinished(database)
        # The baseline under the same machine load: the turn servers are still busy.
        base = asyncio.run(
            post_at_rate("baseline (bare Sanic)", baseline, baseline_steady, args.rate)
        )
        sizes = memory(cluster)
        drained = wait_until_drained(database)
        turns_per_second = (buyers + args.steady) / (drained - first_post)
        burst_buyers = sorted({hook.wa_id for hook in burst})
        replies = Counter(recipient_of(r["body"]) for r in replies_to(graph, burst_buyers))
        per_buyer = Counter(replies[buyer] for buyer in burst_buyers)
        return Result(servers, measured, base, turns_per_second, backlog, sizes, per_buyer)


def report(results: list[Result]) -> bool:
    print_section(
        "Acknowledgements while the turn servers are saturated (steady rate, open loop)",
        latency_table([run for r in results for run in (r.steady, r.baseline)]),
    )
    rows = [
        [
            r.servers,
            f"{r.steady.percentile_ms(50):.1f}",
            f"{r.steady.percentile_ms(99):.1f}",
            f"{r.baseline.percentile_ms(99):.1f}",
            f"{r.steady.percentile_ms(99) / r.baseline.percentile_ms(99):.2f}x",
            r.backlog_at_steady_end,
            verdict(r.steady.percentile_ms(99) < GOAL_P99_MS),
        ]
        for r in results
    ]
    headers = ["turn servers", "p50 ms", "p99 ms", "baseline p99 ms", "p99 / baseline"]
    print_section(
        f"Goal: p99 < {GOAL_P99_MS:.0f} ms",
        markdown_table([*headers, "backlog left", "met"], rows),
    )
    one = next((r for r in results if r.servers == 1), None)
    rows = [
        [
            r.servers,
            f"{r.turns_per_second:.2f}",
            f"{r.turns_per_second / one.turns_per_second:.2f}x" if one else "",
        ]
        for r in results
    ]
    print_section(
        "Turns per second (burst and steady messages, until the inbox is empty)",
        markdown_table(["turn servers", "turns/s", "vs 1 server"], rows),
    )
    rows = [
        [r.servers, role, len(sizes), f"{sum(sizes) / len(sizes):.0f}"]
        for r in results
        for role, sizes in sorted(r.memory_mib.items())
    ]
    print_section(
        "Memory per process (resident MiB, after the burst)",
        markdown_table(["turn servers", "role", "processes", "MiB each"], rows),
    )
    once = all(set(r.replies_per_buyer) == {1} for r in results)
    rows = [[r.servers, dict(sorted(r.replies_per_buyer.items()))] for r in results]
    print_section(
        "Burst buyers by number of replies (each must get exactly 1)",
        markdown_table(["turn servers", "replies: buyers"], rows),
    )
    return once


def chart(results: list[Result]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (acks, turns) = plt.subplots(1, 2, figsize=(10, 4))
    labels = [f"{r.servers} turn server(s)" for r in results] + ["bare Sanic"]
    p50 = [r.steady.percentile_ms(50) for r in results] + [results[-1].baseline.percentile_ms(50)]
    p99 = [r.steady.percentile_ms(99) for r in results] + [results[-1].baseline.percentile_ms(99)]
    positions = range(len(labels))
    acks.bar([p - 0.2 for p in positions], p50, width=0.4, label="p50")
    acks.bar([p + 0.2 for p in positions], p99, width=0.4, label="p99")
    acks.axhline(GOAL_P99_MS, color="red", linestyle="--", label="goal: p99 < 100 ms")
    acks.set_xticks(list(positions), labels)
    acks.set_ylabel("acknowledgement, ms")
    acks.set_title("Acknowledgements while saturated")
    acks.legend()
    turns.bar([str(r.servers) for r in results], [r.turns_per_second for r in results])
    turns.set_xlabel("turn servers")
    turns.set_ylabel("turns per second")
    turns.set_title(f"Turns per second, {os.cpu_count()} cores")
    figure.tight_layout()
    figure.savefig(CHART, dpi=100)
    print(f"\n![Acknowledgements and turns per second](scale_out.png) written to {CHART}")


def body(args: argparse.Namespace) -> int:
    with temporary_workdir("trustguard-scale-", args.keep, "the run's logs") as workdir:
        port = free_port()
        baseline_args = [sys.executable, "-m", "bench.bare_sanic", "--port", str(port)]
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        with running(baseline_args, env, workdir / "baseline.log") as process:
            url = f"http://127.0.0.1:{port}"
            wait_until_ready(url + "/webhooks/whatsapp/", process, START_TIMEOUT)
            results = [
                measure(servers, args, workdir, url + WEBHOOK_PATH) for servers in args.servers
            ]
    once = report(results)
    chart(results)
    return 0 if once else 1


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(
        "Scale-out", "bench.scale_out", parse_args, body, argv, packages=("rasa", "sanic")
    )


if __name__ == "__main__":
    raise SystemExit(main())
