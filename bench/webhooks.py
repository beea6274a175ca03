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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import requests

from bench.conversations import percentile_ms
from bot.platform.settings import PROJECT_ROOT
from devtools.graph_double import GraphDoubleThread, Record, recipient_of
from devtools.whatsapp_chat import encode, sign, whatsapp_text_webhook

MODEL = PROJECT_ROOT / "models" / "trustguard.tar.gz"
WEBHOOK_PATH = "/webhooks/whatsapp/webhook"
# The channel's health route answers without any I/O: all it can wait for is the event loop.
PROBE_PATH = "/webhooks/whatsapp/"
SHOP_ID = "bench-shop"
PHONE_NUMBER_ID = "106540352240001"
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
BURST_CONCURRENCY = 32
REDELIVERY_SHARE = 0.10
WARMUP_REQUESTS = 20
GOAL_P99_MS = 100.0
META_MEDIAN_MS = 250.0
META_SLOW_MS = 1000.0
META_SLOW_SHARE = 0.01
NO_ANSWER = 0

REQUEST_TIMEOUT = 30.0
PHASE_TIMEOUT = 900.0
START_TIMEOUT = 300.0
STOP_TIMEOUT = 180.0  # the launcher gives each server up to 75 s to stop
DRAIN_TIMEOUT = 1200.0
REPLY_TIMEOUT = 300.0
POLL_INTERVAL = 0.5
PROBE_INTERVAL = 0.05
PROBE_IDLE_SAMPLES = 100
PROBE_MAX_SAMPLES = 20_000
SEED = 20240601


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


@dataclass(frozen=True)
class Stack:
    """What one benchmark run talks to."""

    assistant: str
    probe: str
    baseline: str
    graph: GraphDoubleThread
    app_secret: str
    database: Path


# Webhooks


def make_webhook(text: str, wa_id: str, name: str, secret: str) -> Webhook:
    payload = whatsapp_text_webhook(text, phone_number_id=PHONE_NUMBER_ID, wa_id=wa_id, name=name)
    body = encode(payload)
    return Webhook(wa_id, body, sign(body, secret))


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


# The client


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
    """``concurrency`` keep-alive connections, each sending its next webhook as soon as the
    previous one is answered: a closed loop, so a slow server is seen as latency and as fewer
    webhooks per second."""
    pending = iter(webhooks)
    outcomes: list[Outcome] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            for webhook in pending:
                outcomes.append(await post_one(session, url, webhook))

        started_at, started = time.time(), time.perf_counter()
        await run_bounded([asyncio.create_task(worker()) for _ in range(concurrency)])
        return Run(target, outcomes, started_at, time.perf_counter() - started)


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

        await run_bounded([asyncio.create_task(send(i, w)) for i, w in enumerate(webhooks)])
        return Run(target, outcomes, started_at, time.perf_counter() - started)


async def run_bounded(tasks: list[asyncio.Task]) -> None:
    """Wait at most PHASE_TIMEOUT. Plain tasks, not gather(): on Ctrl-C asyncio.run cancels and
    collects them quietly."""
    done, pending = await asyncio.wait(tasks, timeout=PHASE_TIMEOUT)
    for task in pending:
        task.cancel()
    if pending:
        raise TimeoutError(f"{len(pending)} senders were not done after {PHASE_TIMEOUT:.0f} s")
    for task in done:
        task.result()


async def probe(url: str, samples: int, done: asyncio.Event | None = None) -> list[float]:
    """Latencies of ``GET url``, one at a time every PROBE_INTERVAL, until ``done`` is set."""
    latencies: list[float] = []
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while len(latencies) < samples and not (done and done.is_set()):
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(PROBE_INTERVAL)
    return latencies


async def post_all_probed(
    target: str, url: str, webhooks: Sequence[Webhook], concurrency: int, probe_url: str
) -> tuple[Run, list[float]]:
    """``post_all`` with the event-loop probe running alongside, for as long as it runs."""
    done = asyncio.Event()
    probing = asyncio.create_task(probe(probe_url, PROBE_MAX_SAMPLES, done))
    try:
        run = await post_all(target, url, webhooks, concurrency)
    finally:
        done.set()
    return run, await probing


def warm_up(url: str, webhooks: Sequence[Webhook], concurrency: int) -> None:
    """First connections and first database sessions are not what is measured."""
    asyncio.run(post_all("warm-up", url, webhooks, concurrency))


# Processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A child in its own process group, so that it and whatever it starts can be stopped
    together however the benchmark ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGINT first (the launcher then stops its servers), then SIGKILL whatever of the group is
    left."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT)


def wait_until(ready: Callable[[], bool], process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} during start-up")
        if ready():
            return
        time.sleep(POLL_INTERVAL)
    raise RuntimeError(f"{what} was not ready after {START_TIMEOUT:.0f} s")


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def status_ok(url: str, token: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        return requests.get(f"{url}/status", params={"token": token}, timeout=5).ok
    return False


def assistant_env(workdir: Path, graph_url: str, app_secret: str) -> dict[str, str]:
    """Fresh secrets and files for this run; what is set here wins over the developer's .env."""
    actions_port = free_port()
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'app.db'}",
        "TRACKER_STORE_URL": f"sqlite:///{workdir / 'tracker.db'}",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "OTP_SECRET": secrets.token_urlsafe(48),
        "META_APP_SECRET": app_secret,
        "META_VERIFY_TOKEN": secrets.token_urlsafe(16),
        "GRAPH_API_URL": graph_url,
        "WHATSAPP_ACCESS_TOKEN": "bench-whatsapp-token",
        # The per-shop secrets file defaults to var/, which a benchmark must never touch.
        "SHOP_SECRETS_FILE": str(workdir / "shop-secrets.json"),
        "DEFAULT_SHOP": SHOP_ID,
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(actions_port),
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
        "RASA_API_TOKEN": secrets.token_urlsafe(32),
        "RASA_TELEMETRY_ENABLED": "false",
        # No S3 here: boto3 must not go looking for credentials beyond loopback.
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def admin(env: dict[str, str], *args: str) -> None:
    """``python -m bot ...``; its error output becomes the exception when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -m bot {' '.join(args)} failed: {done.stderr.strip()}")


def start(stack: contextlib.ExitStack, keep: bool) -> Stack:
    """Everything the run needs, each piece registered on ``stack`` to be stopped or removed."""
    if not MODEL.exists():
        raise RuntimeError(f"{MODEL} is missing: run `make train` first")
    workdir = Path(tempfile.mkdtemp(prefix="trustguard-bench-"))
    if keep:
        stack.callback(print, f"\nKept the run's databases and logs in {workdir}")
    else:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
    graph = stack.enter_context(GraphDoubleThread())
    app_secret = secrets.token_hex(16)
    env = assistant_env(workdir, graph.url, app_secret)
    admin(env, "db", "upgrade")
    shop = ["--id", SHOP_ID, "--name", "Bench Fabrics", "--whatsapp-phone-id", PHONE_NUMBER_ID]
    admin(env, "shop", "add", *shop)

    baseline_port = free_port()
    baseline_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    baseline_args = [sys.executable, "-m", "bench.bare_sanic", "--port", str(baseline_port)]
    baseline = stack.enter_context(running(baseline_args, baseline_env, workdir / "baseline.log"))
    stack.callback(print_log_summary, workdir / "assistant.log")
    assistant_args = [sys.executable, "-m", "bot.launcher"]
    assistant = stack.enter_context(running(assistant_args, env, workdir / "assistant.log"))

    url = f"http://127.0.0.1:{env['RASA_PORT']}"
    wait_until(lambda: port_open(baseline_port), baseline, "the baseline")
    wait_until(lambda: status_ok(url, env["RASA_API_TOKEN"]), assistant, "the assistant")
    return Stack(
        assistant=url + WEBHOOK_PATH,
        probe=url + PROBE_PATH,
        baseline=f"http://127.0.0.1:{baseline_port}{WEBHOOK_PATH}",
        graph=graph,
        app_secret=app_secret,
        database=workdir / "app.db",
    )


# The database and the Graph API double


def inbox_states(database: Path, sender_prefix: str) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        rows = connection.execute(
            "SELECT state, COUNT(*) FROM inbox_messages WHERE sender LIKE ? GROUP BY state",
            (sender_prefix + "%",),
        )
        return dict(rows.fetchall())


def unfinished(database: Path, sender_prefix: str) -> int:
    states = inbox_states(database, sender_prefix)
    return states.get("received", 0) + states.get("processing", 0)


def wait_for_inbox(database: Path, sender_prefix: str, timeout: float) -> bool:
    """True once every message of these senders has been processed (or timed out: False)."""
    deadline = time.monotonic() + timeout
    while unfinished(database, sender_prefix):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)
    return True


def replies_to(graph: GraphDoubleThread, recipients: Sequence[str]) -> list[Record]:
    wanted = set(recipients)
    return [
        record
        for record in graph.sent()
        if record["account_id"] == PHONE_NUMBER_ID and recipient_of(record["body"]) in wanted
    ]


def wait_for_replies(graph: GraphDoubleThread, recipients: Sequence[str]) -> None:
    """Until every recipient got at least one reply, or REPLY_TIMEOUT."""
    deadline = time.monotonic() + REPLY_TIMEOUT
    while time.monotonic() < deadline:
        replied = {recipient_of(record["body"]) for record in replies_to(graph, recipients)}
        if replied >= set(recipients):
            return
        time.sleep(POLL_INTERVAL)


# Reporting


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def latency_table(runs: Sequence[Run]) -> str:
    headers = ["target", "requests", "non-200", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    rows = [
        [
            run.target,
            len(run.outcomes),
            len(run.outcomes) - run.accepted,
            *(f"{run.percentile_ms(p):.1f}" for p in (50, 95, 99, 100)),
            f"{run.accepted_per_second:.0f}",
        ]
        for run in runs
    ]
    return markdown_table([*headers, "accepted/s"], rows)


def ratio_table(assistant: Run, baseline: Run) -> str:
    """Three significant digits, so a ratio far below 1 does not round to zero."""
    ratios = [
        ("p50", assistant.percentile_ms(50) / baseline.percentile_ms(50)),
        ("p99", assistant.percentile_ms(99) / baseline.percentile_ms(99)),
        ("accepted/s", assistant.accepted_per_second / baseline.accepted_per_second),
    ]
    rows = [[metric, f"{ratio:.3g}x"] for metric, ratio in ratios]
    return markdown_table(["metric", "assistant / baseline"], rows)


def goal_table(assistant: Run) -> str:
    p50, p99 = assistant.percentile_ms(50), assistant.percentile_ms(99)
    slow = assistant.share_slower_than(META_SLOW_MS)
    median_met = p50 <= META_MEDIAN_MS
    rows = [
        [f"p99 < {GOAL_P99_MS:.0f} ms (ours)", f"{p99:.1f} ms", verdict(p99 < GOAL_P99_MS)],
        [f"median <= {META_MEDIAN_MS:.0f} ms (Meta)", f"{p50:.1f} ms", verdict(median_met)],
        ["< 1 % above 1 s (Meta)", f"{slow:.2%}", verdict(slow < META_SLOW_SHARE)],
    ]
    return markdown_table(["goal", "assistant", "met"], rows)


def verdict(met: bool) -> str:
    return "yes" if met else "**no**"


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def print_section(title: str, body: str) -> None:
    print(f"\n### {title}\n\n{body}", flush=True)


def machine() -> list[tuple[str, str]]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text()
    memory_kib = int(re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE).group(1))
    return [
        ("nproc", str(len(os.sched_getaffinity(0)))),
        ("CPU", model.group(1) if model else "unknown"),
        ("memory", f"{memory_kib / 1024**2:.1f} GiB"),
        ("Python", sys.version.split()[0]),
    ]


@dataclass(frozen=True)
class CpuClock:
    """CPU seconds of the whole machine, and of this process with its reaped children.

    Everything the benchmark starts is reaped before the run ends (the launcher reaps its two
    servers), so between two readings, machine minus own is what other work took from the run.
    """

    processes: float
    interrupts_and_steal: float
    own: float

    @classmethod
    def read(cls) -> CpuClock:
        fields = [int(field) for field in Path("/proc/stat").read_text().split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        ticks = os.sysconf("SC_CLK_TCK")
        times = os.times()
        return cls(
            processes=(user + nice + system) / ticks,
            interrupts_and_steal=(irq + softirq + steal) / ticks,
            own=times.user + times.system + times.children_user + times.children_system,
        )


def other_work_table(start: CpuClock, end: CpuClock, wall_seconds: float) -> str:
    """Other jobs on the machine take cores from the servers: this says how much they took."""
    capacity = wall_seconds * len(os.sched_getaffinity(0))
    others = max(0.0, (end.processes - start.processes) - (end.own - start.own))
    interrupts = end.interrupts_and_steal - start.interrupts_and_steal
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rows = [
        ["wall time of the run", seconds(wall_seconds)],
        ["CPU used by this run's processes", seconds(end.own - start.own)],
        [
            "CPU used by other processes",
            f"{seconds(others)} ({others / capacity:.1%} of the cores)",
        ],
        ["CPU in interrupts and hypervisor steal", seconds(interrupts)],
        ["load average (1, 5, 15 min) at the end", load],
    ]
    return markdown_table(["", ""], rows)


def print_log_summary(log: Path) -> None:
    """Errors and warnings of the assistant's run, grouped with their numbers blanked out."""
    if not log.exists():
        return
    lines = log.read_text(errors="replace").splitlines()
    errors = [line for line in lines if re.search(r"\b(ERROR|CRITICAL)\b|Traceback", line)]
    warnings = [line for line in lines if re.search(r"\bWARNING\b", line)]
    common = Counter(re.sub(r"\d+", "N", line)[:200] for line in errors).most_common(5)
    rows = [["error lines", len(errors)], ["warning lines", len(warnings)]]
    rows += [[f"`{line}`", count] for line, count in common]
    print_section("Assistant log", markdown_table(["what", "count"], rows))


# The two measurements


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
    first_post = time.time()
    warm_up(stack.assistant, hooks[:WARMUP_REQUESTS], args.concurrency)
    assistant, busy_probe = asyncio.run(
        post_all_probed(
            "assistant", stack.assistant, hooks[WARMUP_REQUESTS:], args.concurrency, stack.probe
        )
    )
    backlog = unfinished(stack.database, CONVERSATION_PREFIX)
    steady = conversation_webhooks(args.steady_requests, stack.app_secret, rng)
    assistant_steady = asyncio.run(post_at_rate("assistant", stack.assistant, steady, args.rate))
    backlog_after_steady = unfinished(stack.database, CONVERSATION_PREFIX)
    drained = wait_for_inbox(stack.database, CONVERSATION_PREFIX, DRAIN_TIMEOUT)
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
    print_section(f"Event-loop probe: GET {PROBE_PATH}", probe_table(idle_probe, busy_probe))
    states = inbox_states(stack.database, CONVERSATION_PREFIX)
    rows = [
        ["webhooks stored in the inbox (warm-up included)", sum(states.values())],
        ["unprocessed when the closed loop ended", backlog],
        ["unprocessed when the steady phase ended", backlog_after_steady],
        ["all processed", f"yes, {seconds(busy)} after the first POST" if drained else "**no**"],
        ["turns processed per second", f"{states.get('done', 0) / busy:.1f}"],
        ["inbox states", format_states(states)],
    ]
    print_section("Conversation turns behind the acknowledgements", markdown_table(["", ""], rows))


def probe_table(idle: Sequence[float], busy: Sequence[float]) -> str:
    rows = [
        [label, len(latencies), *(f"{percentile_ms(latencies, p):.1f}" for p in (50, 99, 100))]
        for label, latencies in (
            ("assistant idle", idle),
            ("assistant acknowledging (as above)", busy),
        )
    ]
    return markdown_table(["while", "requests", "p50 ms", "p99 ms", "max ms"], rows)


def format_states(states: dict[str, int]) -> str:
    return ", ".join(f"{state}: {count}" for state, count in sorted(states.items())) or "none"


def last_reply_at(replies: Sequence[Record]) -> float:
    return max(dt.datetime.fromisoformat(record["received_at"]).timestamp() for record in replies)


def exactly_once_burst(stack: Stack, args: argparse.Namespace, rng: random.Random) -> bool:
    """True when every unique message got exactly one reply, redeliveries included."""
    webhooks, unique = burst_webhooks(args.burst, stack.app_secret, rng)
    recipients = sorted({webhook.wa_id for webhook in webhooks})
    run = asyncio.run(post_all("burst", stack.assistant, webhooks, BURST_CONCURRENCY))
    wait_for_replies(stack.graph, recipients)
    # A second answer could only come from a second inbox row: once none is left, all is said.
    wait_for_inbox(stack.database, BURST_PREFIX, REPLY_TIMEOUT)
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
        ["inbox states", format_states(inbox_states(stack.database, BURST_PREFIX))],
    ]
    title = f"Burst ({len(webhooks)} webhooks, concurrency {BURST_CONCURRENCY})"
    print_section(title, markdown_table(["", ""], rows))
    return duplicates == 0 and lost == 0


def flag(count: int) -> str:
    return str(count) if count == 0 else f"**{count}**"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--requests", type=positive, default=2000, help="per target")
    parser.add_argument("--concurrency", type=positive, default=16)
    parser.add_argument("--rate", type=positive, default=40, help="webhooks/s, steady phase")
    parser.add_argument("--steady-requests", type=positive, default=1000, help="per target")
    parser.add_argument("--burst", type=positive, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    return parser.parse_args(argv)


def positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def stop_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so every server started here is stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    command = shlex.join(["python", "-m", "bench.webhooks", *argv])
    print(f"## Webhook benchmark\n\n`{command}`")
    print_section("Machine", markdown_table(["", ""], machine()))
    rng = random.Random(SEED)
    clock, began = CpuClock.read(), time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            started = start(stack, args.keep)
            acknowledgement_latency(started, args, rng)
            exactly_once = exactly_once_burst(started, args, rng)
    except KeyboardInterrupt:
        print("\ninterrupted; everything started here was stopped", file=sys.stderr)
        return 130
    wall = time.monotonic() - began
    print_section("Other work on the machine", other_work_table(clock, CpuClock.read(), wall))
    return 0 if exactly_once else 1


if __name__ == "__main__":
    raise SystemExit(main())
