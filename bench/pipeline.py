"""``python -m bench.pipeline``: is our configuration faster than Rasa's default without
understanding buyers worse?

Both configurations, config.yml ("ours") and bench/default_config.yml (Rasa 3.6's default,
"default"), are trained on the same data/ and domain.yml and measured side by side in one run:

1. Cost: training time (each from a cold cache), Rasa server start-up until its model is loaded,
   the first reply, and the resident memory of the Rasa server and the action server after
   start-up and after the load below.
2. Throughput and latency: whole buyer conversations (bench/conversations.py) at 1, 4 and 16
   concurrent buyers, through the REST channel and through the WhatsApp channel (signed webhooks
   in, replies read at a Graph API double).
3. Understanding: 5-fold cross-validated intent and entity F1 on data/ (the same folds for both
   configurations) and scores on bench/heldout.yml, buyer messages never trained on, both as
   ``rasa test nlu`` scores them and as the running server answers them (fallback included).

Everything runs on loopback from fresh temporary files and is stopped when the run ends, also
when it is interrupted; models/, var/ and .env are never read or written. Prints Markdown tables
and writes the chart.

    python -m bench.pipeline [--turns 200] [--concurrency 1 4 16] [--folds 5] [--cv-runs 1]
                             [--memory-turns 1000] [--chart docs/pipeline.png] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import math
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import requests
import yaml

from bench.conversations import (
    JOURNEY,
    BenchLoop,
    LoadRun,
    RestChannel,
    WhatsAppChannel,
    conversations_needed,
    create_buyers,
    drive,
    percentile_ms,
)
from bench.procfs import MIB, cpu_seconds, machine_busy_seconds, rss_mib
from bench.webhooks import (
    PHONE_NUMBER_ID,
    SHOP_ID,
    WEBHOOK_PATH,
    admin,
    assistant_env,
    machine,
    markdown_table,
    positive,
    print_section,
    running,
    stop_on_sigterm,
    verdict,
)
from bot.launcher import rasa_server_command
from bot.platform.patterns import ORDER_ID_PATTERN, OTP_CODE_PATTERN
from bot.platform.settings import PROJECT_ROOT
from bot.shop import codes, order_ids

BENCH = PROJECT_ROOT / "bench"
HELDOUT = BENCH / "heldout.yml"
VENV_BIN = Path(sys.executable).parent
CHANNELS = ("rest", "whatsapp")
ENTITY_PATTERNS = {"order_id": ORDER_ID_PATTERN, "otp_code": OTP_CODE_PATTERN}
MIN_HELDOUT = 150
CV_SEED = 20240601

GOAL_SPEEDUP = 3.0
GOAL_P95_MS = 1000.0
GOAL_P95_CONCURRENCY = 16

TRAIN_TIMEOUT = 3600.0
TEST_TIMEOUT = 7200.0
START_TIMEOUT = 600.0
READY_POLL = 0.1
SWEEP_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
QUIET_SHARE = 0.2
QUIET_WAIT = 120.0
QUIET_POLL = 2.0
ISSUED_PER_KIND = 150
ISSUED_SEED = 7
# How buyers send back what the assistant issued: (template, intent, typed as issued or lower).
ISSUED_TEMPLATES = {
    "otp_code": (
        ("verify {}", "verify_otp", str.upper),
        ("{}", "verify_otp", str.upper),
        ("my code is {}", "verify_otp", str.upper),
        ("{}", "verify_otp", str.lower),
    ),
    "order_id": (
        ("order {}", "order_status", str.upper),
        ("confirm {}", "confirm_order", str.lower),
        ("cancel {} changed my mind", "cancel_order", str.upper),
        (
            "upload receipt for {}",
            "upload_receipt",
            lambda order_id: "#" + order_id.replace("-", ""),
        ),
    ),
}


@dataclass(frozen=True)
class Candidate:
    """A configuration under test, with the fallback settings the sweep needs."""

    name: str
    config: Path

    @property
    def fallback(self) -> tuple[float, float]:
        """(threshold, ambiguity_threshold) of its FallbackClassifier."""
        pipeline = yaml.safe_load(self.config.read_text())["pipeline"]
        fallback = next(c for c in pipeline if c["name"] == "FallbackClassifier")
        return float(fallback["threshold"]), float(fallback["ambiguity_threshold"])


CANDIDATES = (
    Candidate("ours", PROJECT_ROOT / "config.yml"),
    Candidate("default", BENCH / "default_config.yml"),
)


@dataclass(frozen=True)
class Trained:
    seconds: float
    model: Path
    other_cpu: float = 0.0


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: frozenset


@dataclass(frozen=True)
class Parsed:
    """One message as the running server parsed it (``POST /model/parse``)."""

    example: Example
    served_intent: str
    ranking: list[tuple[str, float]]
    entities: frozenset
    seconds: float


@dataclass
class Served:
    """What one configuration's running servers showed."""

    startup_seconds: float = 0.0
    startup_other_cpu: float = 0.0
    actions_startup_seconds: float = 0.0
    first_reply_ms: dict[str, float] = field(default_factory=dict)
    rss_start: tuple[float, float] = (0.0, 0.0)
    rss_after: tuple[float, float] = (0.0, 0.0)
    turns_served: int = 0
    runs: list[LoadRun] = field(default_factory=list)
    # By (channel, concurrency): the Rasa server's CPU time per answered turn, and the share of
    # the machine's CPU that processes the benchmark did not start used meanwhile.
    cpu_ms: dict[tuple[str, int], float] = field(default_factory=dict)
    other_cpu: dict[tuple[str, int], float] = field(default_factory=dict)
    parsed: list[Parsed] = field(default_factory=list)
    issued: dict[str, list[Parsed]] = field(default_factory=dict)

    def run(self, channel: str, concurrency: int) -> LoadRun:
        return next(r for r in self.runs if (r.channel, r.concurrency) == (channel, concurrency))


@dataclass(frozen=True)
class NluScore:
    """What ``rasa test nlu`` wrote: intent accuracy and macro-F1, entity macro-F1."""

    intent_accuracy: float
    intent_macro_f1: float
    entity_macro_f1: float
    entity_extractor: str


# Held-out data


def load_examples(path: Path) -> list[Example]:
    """With Rasa's own readers, so the texts are exactly what ``rasa test nlu`` sees (a
    directory's NLU files only, as ``--nlu data`` reads them)."""
    from rasa.shared.data import get_data_files, is_nlu_file
    from rasa.shared.nlu.training_data.loading import load_data

    return [
        Example(
            message.get("text"),
            message.get("intent"),
            frozenset((e["entity"], e["value"]) for e in message.get("entities") or []),
        )
        for file in sorted(get_data_files([str(path)], is_nlu_file))
        for message in load_data(file).intent_examples
    ]


def normalized(text: str) -> str:
    return " ".join(text.lower().split())


def story_texts() -> Iterator[str]:
    """The user texts of tests/stories/, annotations removed."""
    for path in (PROJECT_ROOT / "tests" / "stories").glob("*.yml"):
        for story in yaml.safe_load(path.read_text()).get("stories", []):
            for step in story.get("steps", []):
                if "user" in step:
                    yield re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", step["user"]).strip()


def heldout_problems(examples: Sequence[Example]) -> list[str]:
    """Why the held-out set would not measure generalisation, if it would not."""
    trained = {normalized(e.text) for e in load_examples(PROJECT_ROOT / "data")}
    tested = {normalized(text) for text in story_texts()}
    problems = []
    if len(examples) < MIN_HELDOUT:
        problems.append(f"only {len(examples)} messages, fewer than {MIN_HELDOUT}")
    seen: set = set()
    for example in examples:
        key = normalized(example.text)
        if key in trained:
            problems.append(f"{example.text!r} is in data/")
        if key in tested:
            problems.append(f"{example.text!r} is in tests/stories/")
        if key in seen:
            problems.append(f"{example.text!r} appears twice")
        seen.add(key)
        for entity, value in example.entities:
            if not re.fullmatch(ENTITY_PATTERNS[entity], value):
                problems.append(f"{value!r} is not an {entity} of data/patterns.yml")
    return problems


def issued_values(kind: str, count: int, rng: random.Random) -> list[str]:
    """Codes as bot.shop.codes.generate_code draws them and order ids as
    bot.shop.order_ids.new_order_id does, from the same alphabets, but seeded: every run and
    configuration gets the same."""
    values: list[str] = []
    while len(values) < count:
        if kind == "order_id":
            values.append(
                order_ids.PREFIX + "".join(rng.choices(order_ids.CROCKFORD_ALPHABET, k=6))
            )
            continue
        code = "".join(rng.choices(codes.ALPHABET, k=codes.CODE_LENGTH))
        if set(code) & set(codes.DIGITS) and set(code) & set(codes.SYMBOLS):
            values.append(code)
    return values


def issued_examples() -> dict[str, list[Example]]:
    """Messages that carry a one-time code or an order id the app really issues, typed the ways
    buyers send them back. Unlike the handwritten held-out set, they cover every shape a code
    can take (a symbol first or last, ``%`` between letters...)."""
    rng = random.Random(ISSUED_SEED)
    examples: dict[str, list[Example]] = {}
    for kind, templates in ISSUED_TEMPLATES.items():
        values = issued_values(kind, ISSUED_PER_KIND, rng)
        examples[kind] = []
        for index, value in enumerate(values):
            template, intent, typed_as = templates[index % len(templates)]
            typed = typed_as(value)
            examples[kind].append(
                Example(template.format(typed), intent, frozenset({(kind, typed)}))
            )
    return examples


# Processes


def rasa_env(workdir: Path, cache: str) -> dict[str, str]:
    """Rasa's training cache in the run's directory, one per configuration: each trains cold,
    and the project's .rasa/cache is left alone."""
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONPATH": str(PROJECT_ROOT),
        "RASA_CACHE_DIRECTORY": str(workdir / f"cache-{cache}"),
    }


class OtherWork:
    """The CPU the machine spends, from now on, on processes this benchmark did not start: on a
    shared machine other work can land on one configuration's measurement, so it is reported."""

    def __init__(self, own_cpu: Callable[[], float]) -> None:
        self._own_cpu = own_cpu
        self._busy, self._own = machine_busy_seconds(), own_cpu()
        self._started = time.perf_counter()

    def share(self) -> float:
        """Of the machine's CPU capacity since the start."""
        wall = time.perf_counter() - self._started
        others = (machine_busy_seconds() - self._busy) - (self._own_cpu() - self._own)
        return max(0.0, others) / (wall * os.cpu_count())


def own_cpu_seconds(stacks: Sequence[Stack]) -> float:
    """CPU time of what this benchmark runs: the running stacks, this process, and the commands
    it ran to completion (training, the admin CLI)."""
    user, system, children_user, children_system, _ = os.times()
    own = user + system + children_user + children_system
    return own + sum(stack.cpu_seconds() for stack in stacks)


def wait_for_quiet(stacks: Sequence[Stack]) -> None:
    """Waits (a bounded time) until other work leaves the CPUs mostly free, so that it does not
    land on one configuration's measurement; what remains is reported with each measurement."""
    deadline = time.monotonic() + QUIET_WAIT
    while time.monotonic() < deadline:
        other = OtherWork(lambda: own_cpu_seconds(stacks))
        time.sleep(1.0)
        if other.share() <= QUIET_SHARE:
            return
        time.sleep(QUIET_POLL)


def run_to_end(args: list[str], env: dict[str, str], log: Path, timeout: float) -> float:
    """Runs a command to completion (stopped with its process group however this ends) and
    returns its wall time; a failure raises with the end of its log."""
    started = time.perf_counter()
    with running(args, env, log) as process:
        status = process.wait(timeout=timeout)
    if status != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{shlex.join(args)} exited with {status}:\n{tail}")
    return time.perf_counter() - started


def rasa(*args: str) -> list[str]:
    return [str(VENV_BIN / "rasa"), *args]


def train_args(candidate: Candidate, out: Path) -> list[str]:
    return rasa(
        "train",
        "--config",
        str(candidate.config.relative_to(PROJECT_ROOT)),
        "--domain",
        "domain.yml",
        "--data",
        "data",
        "--out",
        str(out),
        "--fixed-model-name",
        candidate.name,
    )


def train(candidate: Candidate, workdir: Path) -> Trained:
    out = workdir / "models"
    args = train_args(candidate, out)
    env = rasa_env(workdir, candidate.name)
    wait_for_quiet([])
    other = OtherWork(lambda: own_cpu_seconds([]))
    seconds = run_to_end(args, env, workdir / f"train-{candidate.name}.log", TRAIN_TIMEOUT)
    return Trained(seconds, out / f"{candidate.name}.tar.gz", other.share())


def wait_ready(url: str, process: subprocess.Popen, what: str, started: float) -> float:
    """Seconds from ``started`` until ``url`` answers 200, polled every READY_POLL."""
    while time.perf_counter() - started < START_TIMEOUT:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} during start-up")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).ok:
                return time.perf_counter() - started
        time.sleep(READY_POLL)
    raise RuntimeError(f"{what} was not ready after {START_TIMEOUT:.0f} s")


# Serving both configurations

Point = tuple[str, object]  # (channel, concurrency, "warm-up" or "top-up")


@dataclass(frozen=True)
class Stack:
    """One configuration's two servers, as ``make run`` starts them but on its own model."""

    url: str
    token: str
    rasa: subprocess.Popen
    actions: subprocess.Popen

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.rasa.pid) + cpu_seconds(self.actions.pid)

    def rss_mib(self) -> tuple[float, float]:
        return rss_mib(self.rasa.pid), rss_mib(self.actions.pid)


def user_ids(channel: str, config: int, point: int, count: int) -> list[str]:
    """Distinct per configuration and point, so a late reply is never taken for another's;
    WhatsApp ids are phone numbers."""
    if channel == "whatsapp":
        return [f"234{config}{point:02d}{i:06d}" for i in range(count)]
    return [f"buyer-{config}-{point:02d}-{i:04d}" for i in range(count)]


def plan_buyers(database_url: str, config: int, args: argparse.Namespace) -> dict[Point, list]:
    """The buyers of every point (plus a warm-up and the top-up to --memory-turns), created
    before the servers start. Each configuration's buyers at a point follow the same scripts,
    so both are sent the same conversations."""
    counts: dict[Point, int] = {}
    for channel in CHANNELS:
        counts[(channel, "warm-up")] = 1
        for level in args.concurrency:
            counts[(channel, level)] = conversations_needed(args.turns, level)
    planned = len(CHANNELS) * (len(args.concurrency) * args.turns + len(JOURNEY))
    extra = args.memory_turns - planned
    counts[("rest", "top-up")] = conversations_needed(extra, max(args.concurrency)) * (extra > 0)
    return {
        (channel, point): create_buyers(
            database_url,
            SHOP_ID,
            channel,
            user_ids(channel, config, index, count),
            [f"{channel}-{point}-{i}" for i in range(count)],
        )
        for index, ((channel, point), count) in enumerate(counts.items())
    }


class Serving:
    """One configuration's running servers, its planned buyers, and what it showed."""

    def __init__(self, stack: Stack, plan: dict[Point, list], loop: BenchLoop, secret: str):
        self.stack = stack
        self.plan = plan
        self.loop = loop
        self.served = Served()
        self.channels = {
            "rest": RestChannel(stack.url),
            "whatsapp": WhatsAppChannel(
                stack.url + WEBHOOK_PATH, secret, PHONE_NUMBER_ID, loop.waiters
            ),
        }

    def drive(self, channel: str, point: object, turns: int, concurrency: int) -> LoadRun:
        say = self.channels[channel].say
        run = self.loop.run(drive(say, channel, self.plan[(channel, point)], turns, concurrency))
        self.served.turns_served += len(run.turns)
        return run


@contextlib.contextmanager
def serving(
    candidate: Candidate,
    trained: Trained,
    config: int,
    loop: BenchLoop,
    args: argparse.Namespace,
    workdir: Path,
    running_stacks: Sequence[Stack],
) -> Iterator[Serving]:
    """Fresh databases and both servers, timed until ready and stopped when the block ends."""
    workdir.mkdir()
    secret = secrets.token_hex(16)
    env = assistant_env(workdir, loop.double.url, secret)
    env["SHOP_SECRETS_FILE"] = str(workdir / "shop-secrets.json")
    admin(env, "db", "upgrade")
    shop = ["--id", SHOP_ID, "--name", "Bench Fabrics", "--whatsapp-phone-id", PHONE_NUMBER_ID]
    admin(env, "shop", "add", *shop)
    plan = plan_buyers(env["DATABASE_URL"], config, args)
    wait_for_quiet(running_stacks)
    started_here: list[subprocess.Popen] = []
    other = OtherWork(
        lambda: own_cpu_seconds(running_stacks) + sum(cpu_seconds(p.pid) for p in started_here)
    )
    with contextlib.ExitStack() as stack:
        started = time.perf_counter()
        command = [sys.executable, "-m", "actions"]
        actions = stack.enter_context(running(command, env, workdir / "actions.log"))
        started_here.append(actions)
        health = f"http://127.0.0.1:{env['ACTIONS_PORT']}/health"
        actions_startup = wait_ready(health, actions, "the action server", started)
        started = time.perf_counter()
        server = stack.enter_context(
            running(rasa_server_command(trained.model, env), env, workdir / "rasa.log")
        )
        started_here.append(server)
        url, token = f"http://127.0.0.1:{env['RASA_PORT']}", env["RASA_API_TOKEN"]
        status = f"{url}/status?token={token}"
        rasa_startup = wait_ready(status, server, f"the Rasa server ({candidate.name})", started)
        current = Serving(Stack(url, token, server, actions), plan, loop, secret)
        current.served.actions_startup_seconds = actions_startup
        current.served.startup_seconds = rasa_startup
        current.served.startup_other_cpu = other.share()
        current.served.rss_start = current.stack.rss_mib()
        yield current


def warm_up(current: Serving) -> None:
    """One whole conversation per channel; the first REST reply is the cold one."""
    for channel in CHANNELS:
        run = current.drive(channel, "warm-up", len(JOURNEY), 1)
        current.served.first_reply_ms[channel] = run.turns[0].seconds * 1000


def measure(
    current: Serving, stacks: Sequence[Stack], channel: str, level: int, turns: int
) -> LoadRun:
    """One point, with the Rasa server's CPU per turn and the share of the machine's CPU that
    processes this benchmark did not start took meanwhile."""
    wait_for_quiet(stacks)
    rasa_pid = current.stack.rasa.pid
    other, rasa_cpu = OtherWork(lambda: own_cpu_seconds(stacks)), cpu_seconds(rasa_pid)
    run = current.drive(channel, level, turns, level)
    served = current.served
    served.other_cpu[(channel, level)] = other.share()
    served.cpu_ms[(channel, level)] = (
        (cpu_seconds(rasa_pid) - rasa_cpu) * 1000 / max(1, len(run.answered))
    )
    served.runs.append(run)
    return run


def finish(current: Serving, args: argparse.Namespace, examples: Sequence[Example]) -> None:
    """Tops the turns up to --memory-turns, reads the memory, then parses the held-out set."""
    if args.memory_turns > current.served.turns_served:
        remaining = args.memory_turns - current.served.turns_served
        current.drive("rest", "top-up", remaining, max(args.concurrency))
    current.served.rss_after = current.stack.rss_mib()
    stack = current.stack
    current.served.parsed = current.loop.run(parse_all(stack.url, stack.token, examples))
    for kind, issued in issued_examples().items():
        parsed = current.loop.run(parse_all(stack.url, stack.token, issued))
        current.served.issued[kind] = parsed


def serve_all(
    trained: dict[str, Trained],
    examples: Sequence[Example],
    args: argparse.Namespace,
    workdir: Path,
) -> tuple[dict[str, Served], int]:
    """Both configurations up at once, measured point by point in alternating order, so a
    change in the machine's load hits both alike. Also returns how many WhatsApp replies
    arrived that no buyer was waiting for (a duplicate or a reply after the timeout)."""
    with BenchLoop() as loop, contextlib.ExitStack() as stack:
        servings: dict[str, Serving] = {}
        stacks: list[Stack] = []
        for config, candidate in enumerate(CANDIDATES):
            progress(f"starting {candidate.name}")
            current = stack.enter_context(
                serving(
                    candidate,
                    trained[candidate.name],
                    config,
                    loop,
                    args,
                    workdir / candidate.name,
                    stacks,
                )
            )
            servings[candidate.name] = current
            stacks.append(current.stack)
        everyone = list(servings.values())
        for current in everyone:
            warm_up(current)
        points = [(channel, level) for channel in CHANNELS for level in args.concurrency]
        for index, (channel, level) in enumerate(points):
            order = CANDIDATES if index % 2 == 0 else CANDIDATES[::-1]
            for candidate in order:
                run = measure(servings[candidate.name], stacks, channel, level, args.turns)
                progress(
                    f"{candidate.name} {channel} x{level}: {run.turns_per_second:.1f} turns/s, "
                    f"p95 {run.percentile_ms(95):.0f} ms"
                )
        for current in everyone:
            finish(current, args, examples)
        return {name: s.served for name, s in servings.items()}, loop.waiters.unclaimed


async def parse_all(url: str, token: str, examples: Sequence[Example]) -> list[Parsed]:
    """Each held-out message through ``POST /model/parse``, one at a time: what the running
    assistant understands, after its FallbackClassifier."""
    parsed = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for example in examples:
            started = time.perf_counter()
            async with session.post(
                f"{url}/model/parse", params={"token": token}, json={"text": example.text}
            ) as response:
                response.raise_for_status()
                result = await response.json()
            seconds = time.perf_counter() - started
            ranking = [
                (intent["name"], float(intent["confidence"]))
                for intent in result.get("intent_ranking", [])
                if intent["name"] != "nlu_fallback"
            ]
            entities = frozenset((e["entity"], e["value"]) for e in result.get("entities", []))
            served_intent = (result.get("intent") or {}).get("name") or ""
            parsed.append(Parsed(example, served_intent, ranking, entities, seconds))
    return parsed


# Understanding, as rasa test nlu scores it


def read_scores(out: Path) -> NluScore:
    intents = json.loads((out / "intent_report.json").read_text())
    entity_reports = sorted(
        path
        for path in out.glob("*_report.json")
        if path.name not in ("intent_report.json", "response_selection_report.json")
    )
    entity_f1, extractor = float("nan"), "none"
    if entity_reports:
        report = json.loads(entity_reports[0].read_text())
        entity_f1 = report["macro avg"]["f1-score"]
        extractor = entity_reports[0].name.removesuffix("_report.json")
    return NluScore(intents["accuracy"], intents["macro avg"]["f1-score"], entity_f1, extractor)


def heldout_args(model: Path, out: Path) -> list[str]:
    heldout = str(HELDOUT.relative_to(PROJECT_ROOT))
    return rasa("test", "nlu", "--model", str(model), "--nlu", heldout, "--out", str(out))


def test_heldout(candidate: Candidate, trained: Trained, workdir: Path) -> NluScore:
    out = workdir / f"heldout-{candidate.name}"
    args = heldout_args(trained.model, out)
    run_to_end(args, rasa_env(workdir, candidate.name), out.with_suffix(".log"), TEST_TIMEOUT)
    return read_scores(out)


def cv_args(candidate: Candidate, folds: int, seed: int, out: Path) -> list[str]:
    """``rasa test nlu --cross-validation`` through bench.seeded_rasa: the same folds for every
    configuration."""
    config = str(candidate.config.relative_to(PROJECT_ROOT))
    return [
        sys.executable, "-m", "bench.seeded_rasa", str(seed), "test", "nlu", "--cross-validation",
        "--folds", str(folds), "--config", config, "--nlu", "data", "--out", str(out),
    ]  # fmt: skip


def cross_validate(candidate: Candidate, folds: int, seed: int, workdir: Path) -> NluScore:
    out = workdir / f"cv-{candidate.name}-{seed}"
    env = rasa_env(workdir, f"cv-{candidate.name}")
    run_to_end(cv_args(candidate, folds, seed, out), env, out.with_suffix(".log"), TEST_TIMEOUT)
    return read_scores(out)


def commands(args: argparse.Namespace) -> str:
    """The Rasa commands this run executes, its temporary directory shown as TMP."""
    tmp = Path("TMP")
    env = {"RASA_PORT": "PORT", "RASA_API_TOKEN": "TOKEN"}
    lines = []
    for candidate in CANDIDATES:
        model = tmp / "models" / f"{candidate.name}.tar.gz"
        lines += [
            train_args(candidate, tmp / "models"),
            rasa_server_command(model, env),
            heldout_args(model, tmp / f"heldout-{candidate.name}"),
            cv_args(candidate, args.folds, CV_SEED, tmp / f"cv-{candidate.name}-{CV_SEED}"),
        ]
    shown = [shlex.join([Path(line[0]).name, *line[1:]]) for line in lines]
    return "```\n" + "\n".join(shown) + "\n```"


def mean_score(scores: Sequence[NluScore]) -> NluScore:
    return NluScore(
        statistics.fmean(s.intent_accuracy for s in scores),
        statistics.fmean(s.intent_macro_f1 for s in scores),
        statistics.fmean(s.entity_macro_f1 for s in scores),
        scores[0].entity_extractor,
    )


# Understanding, as the running server answers


def served_accuracy(parsed: Sequence[Parsed]) -> float:
    """The share of messages whose served intent (nlu_fallback counts as wrong) is right."""
    return sum(p.served_intent == p.example.intent for p in parsed) / len(parsed)


def fallback_share(parsed: Sequence[Parsed]) -> float:
    return sum(p.served_intent == "nlu_fallback" for p in parsed) / len(parsed)


def answers_at(parsed: Sequence[Parsed], threshold: float, ambiguity: float) -> tuple[float, float]:
    """With another FallbackClassifier threshold, replayed from the raw ranking exactly as the
    FallbackClassifier decides: the share of messages answered right, and the share answered
    with a wrong intent (a wrong action, worse than the fallback's "type help")."""
    right = wrong = 0
    for p in parsed:
        (top, first), second = p.ranking[0], p.ranking[1][1] if len(p.ranking) > 1 else 0.0
        if first >= threshold and first - second >= ambiguity:
            right += top == p.example.intent
            wrong += top != p.example.intent
    return right / len(parsed), wrong / len(parsed)


def top_intent(parsed: Parsed) -> str:
    """The top intent before the FallbackClassifier, as ``rasa test nlu`` scores it."""
    return parsed.ranking[0][0] if parsed.ranking else parsed.served_intent


def paired_table(ours: Sequence[Parsed], default: Sequence[Parsed]) -> str:
    """Held-out message by message: a difference in accuracy is only worth as much as the
    messages one configuration gets right and the other wrong (exact two-sided McNemar test)."""
    counts = Counter(
        (top_intent(o) == o.example.intent, top_intent(d) == d.example.intent)
        for o, d in zip(ours, default, strict=True)
    )
    only_ours, only_default = counts[(True, False)], counts[(False, True)]
    discordant = only_ours + only_default
    tail = sum(math.comb(discordant, k) for k in range(min(only_ours, only_default) + 1))
    p_value = min(1.0, 2 * tail / 2**discordant) if discordant else 1.0
    rows = [
        ["right with both", counts[(True, True)]],
        ["right only with ours", only_ours],
        ["right only with the default", only_default],
        ["wrong with both", counts[(False, False)]],
        ["McNemar exact p (chance alone gives a split this uneven)", f"{p_value:.3f}"],
    ]
    return markdown_table(["held-out messages", "count"], rows)


def fully_right(parsed: Sequence[Parsed]) -> float:
    """Share of messages answered with the right intent and exactly the right entities."""
    right = [
        p.served_intent == p.example.intent and p.entities == p.example.entities for p in parsed
    ]
    return sum(right) / len(right)


def entities_right(parsed: Sequence[Parsed]) -> tuple[float, int]:
    """Share of messages with an id or code whose entities are exactly the annotated ones, and
    the number of other messages given an entity they do not have."""
    annotated = [p for p in parsed if p.example.entities]
    right = sum(p.entities == p.example.entities for p in annotated) / max(1, len(annotated))
    spurious = sum(bool(p.entities) for p in parsed if not p.example.entities)
    return right, spurious


# Reporting


def progress(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def ratio(ours: float, default: float) -> str:
    return f"{ours / default:.2f}x" if default else "n/a"


def cost_table(trained: dict[str, Trained], served: dict[str, Served]) -> str:
    turns = served["ours"].turns_served
    measures: list[tuple[str, Callable[[str], float], str]] = [
        ("training, cold cache (s)", lambda n: trained[n].seconds, "{:.0f}"),
        ("model size (MiB)", lambda n: trained[n].model.stat().st_size / MIB**2, "{:.1f}"),
        ("action server start-up until /health is 200 (s)",
         lambda n: served[n].actions_startup_seconds, "{:.1f}"),
        ("Rasa server start-up until /status is 200 (s)",
         lambda n: served[n].startup_seconds, "{:.1f}"),
        ("first reply after start-up, REST (ms)",
         lambda n: served[n].first_reply_ms["rest"], "{:.0f}"),
        ("Rasa server RSS after start-up (MiB)", lambda n: served[n].rss_start[0], "{:.0f}"),
        (f"Rasa server RSS after {turns} turns (MiB)", lambda n: served[n].rss_after[0], "{:.0f}"),
        ("action server RSS after start-up (MiB)", lambda n: served[n].rss_start[1], "{:.0f}"),
        (f"action server RSS after {turns} turns (MiB)",
         lambda n: served[n].rss_after[1], "{:.0f}"),
    ]  # fmt: skip
    rows = [
        [
            label,
            *(fmt.format(get(n)) for n in ("ours", "default")),
            ratio(get("ours"), get("default")),
        ]
        for label, get, fmt in measures
    ]
    rows += [
        [
            "other processes' CPU during its training",
            *(f"{trained[n].other_cpu:.0%}" for n in ("ours", "default")),
            "",
        ],
        [
            "other processes' CPU during its start-up",
            *(f"{served[n].startup_other_cpu:.0%}" for n in ("ours", "default")),
            "",
        ],
    ]
    return markdown_table(["", "ours", "default", "ours/default"], rows)


def load_table(served: dict[str, Served], concurrency: Sequence[int]) -> str:
    rows = []
    for channel in CHANNELS:
        for level in concurrency:
            for name in ("ours", "default"):
                run = served[name].run(channel, level)
                latencies = (f"{run.percentile_ms(p):.0f}" for p in (50, 95, 99))
                cpu = served[name].cpu_ms[(channel, level)]
                other = served[name].other_cpu[(channel, level)]
                rows.append(
                    [channel, level, name, len(run.turns), f"{run.turns_per_second:.1f}",
                     *latencies, f"{cpu:.0f}", f"{run.expected_share:.1%}", f"{other:.0%}"]
                )  # fmt: skip
    headers = ["channel", "concurrent", "config", "turns", "turns/s", "p50 ms", "p95 ms", "p99 ms"]
    headers += ["Rasa CPU ms/turn", "expected reply", "other processes' CPU"]
    return markdown_table(headers, rows)


def ratio_rows(served: dict[str, Served], concurrency: Sequence[int]) -> list[list[object]]:
    rows = []
    for channel in CHANNELS:
        for level in concurrency:
            ours, default = (
                served["ours"].run(channel, level),
                served["default"].run(channel, level),
            )
            rows.append(
                [
                    channel,
                    level,
                    ratio(ours.turns_per_second, default.turns_per_second),
                    ratio(default.percentile_ms(50), ours.percentile_ms(50)),
                    ratio(default.percentile_ms(95), ours.percentile_ms(95)),
                ]
            )
    return rows


def understanding_table(
    cv: dict[str, NluScore], heldout: dict[str, NluScore], served: dict[str, Served]
) -> str:
    def pair(values: dict[str, float], fmt: str = "{:.3f}") -> list[str]:
        return [fmt.format(values[n]) for n in ("ours", "default")]

    parsed = {name: served[name].parsed for name in served}
    right = {name: entities_right(parsed[name]) for name in parsed}
    extractors = " / ".join(cv[n].entity_extractor for n in ("ours", "default"))
    rows = [
        ["CV intent macro-F1", *pair({n: cv[n].intent_macro_f1 for n in cv})],
        ["CV intent accuracy", *pair({n: cv[n].intent_accuracy for n in cv})],
        [f"CV entity macro-F1 ({extractors})", *pair({n: cv[n].entity_macro_f1 for n in cv})],
        ["held-out intent accuracy", *pair({n: heldout[n].intent_accuracy for n in heldout})],
        ["held-out intent macro-F1", *pair({n: heldout[n].intent_macro_f1 for n in heldout})],
        ["held-out entity macro-F1", *pair({n: heldout[n].entity_macro_f1 for n in heldout})],
        [
            "held-out, served: right intent (fallback = wrong)",
            *pair({n: served_accuracy(parsed[n]) for n in parsed}),
        ],
        ["held-out, served: fallback share", *pair({n: fallback_share(parsed[n]) for n in parsed})],
        ["held-out, served: ids and codes exactly right", *pair({n: right[n][0] for n in right})],
        [
            "held-out, served: messages given a spurious entity",
            *pair({n: right[n][1] for n in right}, "{:.0f}"),
        ],
        [
            f"issued codes, served: right intent and exact code (n={ISSUED_PER_KIND})",
            *pair({n: fully_right(served[n].issued["otp_code"]) for n in served}),
        ],
        [
            f"issued order ids, served: right intent and exact id (n={ISSUED_PER_KIND})",
            *pair({n: fully_right(served[n].issued["order_id"]) for n in served}),
        ],
        [
            "NLU only: POST /model/parse p50 (ms)",
            *pair({n: percentile_ms([p.seconds for p in parsed[n]], 50) for n in parsed}, "{:.1f}"),
        ],
    ]
    return markdown_table(["", "ours", "default"], rows)


def sweep_table(served: dict[str, Served]) -> str:
    """Each configuration's own threshold is marked with its name."""
    fallbacks = {c.name: c.fallback for c in CANDIDATES}
    rows = []
    for threshold in SWEEP_THRESHOLDS:
        configured = [n for n in ("ours", "default") if fallbacks[n][0] == threshold]
        row: list[object] = [f"{threshold:.1f} {' '.join(f'({n})' for n in configured)}".strip()]
        for name in ("ours", "default"):
            right, wrong = answers_at(served[name].parsed, threshold, fallbacks[name][1])
            row += [f"{right:.3f}", f"{wrong:.3f}"]
        rows.append(row)
    headers = ["FallbackClassifier threshold", "ours: right", "ours: wrong intent"]
    return markdown_table([*headers, "default: right", "default: wrong intent"], rows)


def goals_table(
    served: dict[str, Served],
    cv: dict[str, NluScore],
    heldout: dict[str, NluScore],
    concurrency: Sequence[int],
) -> str:
    ours, default = served["ours"], served["default"]
    speedups = {
        (channel, level): ours.run(channel, level).turns_per_second
        / default.run(channel, level).turns_per_second
        for channel in CHANNELS
        for level in concurrency
    }
    peak = {
        name: max(served[name].run("rest", level).turns_per_second for level in concurrency)
        for name in served
    }
    lowest = min(speedups, key=speedups.get)
    level = GOAL_P95_CONCURRENCY if GOAL_P95_CONCURRENCY in concurrency else max(concurrency)
    p95 = ours.run("whatsapp", level).percentile_ms(95)
    rows = [
        [
            f"peak REST turns/s >= {GOAL_SPEEDUP:.0f}x default",
            f"{peak['ours']:.1f} vs {peak['default']:.1f} ({peak['ours'] / peak['default']:.2f}x)",
            verdict(peak["ours"] >= GOAL_SPEEDUP * peak["default"]),
        ],
        [
            f"turns/s >= {GOAL_SPEEDUP:.0f}x at every point",
            f"lowest {speedups[lowest]:.2f}x ({lowest[0]}, {lowest[1]} concurrent)",
            verdict(speedups[lowest] >= GOAL_SPEEDUP),
        ],
        [
            "CV intent macro-F1 >= default",
            f"{cv['ours'].intent_macro_f1:.3f} vs {cv['default'].intent_macro_f1:.3f}",
            verdict(cv["ours"].intent_macro_f1 >= cv["default"].intent_macro_f1),
        ],
        [
            "held-out accuracy >= default",
            f"{heldout['ours'].intent_accuracy:.3f} vs {heldout['default'].intent_accuracy:.3f}",
            verdict(heldout["ours"].intent_accuracy >= heldout["default"].intent_accuracy),
        ],
        [
            f"WhatsApp reply p95 < {GOAL_P95_MS:.0f} ms at {level} concurrent",
            f"{p95:.0f} ms",
            verdict(p95 < GOAL_P95_MS),
        ],
        [
            "start-up no slower",
            f"{ours.startup_seconds:.1f} s vs {default.startup_seconds:.1f} s",
            verdict(ours.startup_seconds <= default.startup_seconds),
        ],
        [
            "Rasa server memory no larger (after the load)",
            f"{ours.rss_after[0]:.0f} vs {default.rss_after[0]:.0f} MiB",
            verdict(ours.rss_after[0] <= default.rss_after[0]),
        ],
    ]
    return markdown_table(["goal", "measured (ours vs default)", "met"], rows)


def draw_chart(served: dict[str, Served], concurrency: Sequence[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (rate, tail) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"ours": "tab:green", "default": "tab:gray"}
    styles = {"rest": "-", "whatsapp": "--"}
    for name in ("ours", "default"):
        for channel in CHANNELS:
            runs = [served[name].run(channel, level) for level in concurrency]
            label = f"{name}, {channel}"
            style = {"color": colors[name], "linestyle": styles[channel], "marker": "o"}
            rate.plot(concurrency, [r.turns_per_second for r in runs], label=label, **style)
            tail.plot(concurrency, [r.percentile_ms(95) for r in runs], label=label, **style)
    tail.axhline(GOAL_P95_MS, color="tab:red", linewidth=0.8, label="p95 goal (1 s)")
    for axis, title, unit in ((rate, "Throughput", "turns/s"), (tail, "Reply latency p95", "ms")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(list(concurrency), [str(c) for c in concurrency])
        axis.set_xlabel("concurrent conversations")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(alpha=0.3)
    rate.set_ylim(bottom=0)
    tail.set_yscale("log")
    rate.legend(fontsize=8)
    tail.legend(fontsize=8)
    figure.suptitle("TrustGuard config vs Rasa 3.6 default, same machine, same run")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def machine_rows() -> list[tuple[str, str]]:
    versions = [
        (package, importlib.metadata.version(package)) for package in ("rasa", "tensorflow")
    ]
    return [*machine(), *versions]


# The run


def run(args: argparse.Namespace, workdir: Path) -> None:
    examples = load_examples(HELDOUT)
    problems = heldout_problems(examples)
    if problems:
        raise RuntimeError("bench/heldout.yml is not held out:\n" + "\n".join(problems))
    print_section("Commands (TMP is the run's temporary directory)", commands(args))
    print_section(
        "Held-out set",
        f"{len(examples)} messages in `bench/heldout.yml`, none of them "
        "in `data/` or `tests/stories/` (checked before the run).",
    )

    trained = {}
    for candidate in CANDIDATES:
        progress(f"training {candidate.name}")
        trained[candidate.name] = train(candidate, workdir)

    served, unclaimed = serve_all(trained, examples, args, workdir)
    print_section("Cost", cost_table(trained, served))
    title = f"Conversations ({args.turns} turns per point, {len(JOURNEY)}-turn journeys)"
    print_section(title, load_table(served, args.concurrency))
    headers = [
        "channel",
        "concurrent",
        "turns/s ours/default",
        "p50 default/ours",
        "p95 default/ours",
    ]
    print_section(
        "Ours against the default", markdown_table(headers, ratio_rows(served, args.concurrency))
    )
    print_section("WhatsApp replies no buyer was waiting for (late or duplicate)", f"{unclaimed}")

    heldout, cv = {}, {}
    for candidate in CANDIDATES:
        progress(f"testing {candidate.name} on the held-out set")
        heldout[candidate.name] = test_heldout(candidate, trained[candidate.name], workdir)
    for candidate in CANDIDATES:
        runs = []
        for offset in range(args.cv_runs):
            progress(f"cross-validating {candidate.name}, run {offset + 1} of {args.cv_runs}")
            runs.append(cross_validate(candidate, args.folds, CV_SEED + offset, workdir))
        cv[candidate.name] = mean_score(runs)
    title = (
        f"Understanding ({args.folds}-fold CV x {args.cv_runs}, held-out {len(examples)} messages)"
    )
    print_section(title, understanding_table(cv, heldout, served))
    paired = paired_table(served["ours"].parsed, served["default"].parsed)
    print_section("Held-out, message by message (top intent)", paired)
    title = "Held-out as served, by fallback threshold (each config's own ambiguity threshold)"
    print_section(title, sweep_table(served))
    print_section("Goals", goals_table(served, cv, heldout, args.concurrency))
    draw_chart(served, args.concurrency, args.chart)
    print_section(
        "Chart", f"![Throughput and p95 latency]({args.chart.name}) written to `{args.chart}`"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--turns", type=positive, default=200, help="per point")
    parser.add_argument("--concurrency", type=positive, nargs="+", default=[1, 4, 16])
    parser.add_argument("--folds", type=positive, default=5)
    parser.add_argument("--cv-runs", type=positive, default=1, help="seeds, the same per config")
    parser.add_argument("--memory-turns", type=positive, default=1000, help="before the RSS read")
    parser.add_argument("--chart", type=Path, default=PROJECT_ROOT / "docs" / "pipeline.png")
    parser.add_argument("--keep", action="store_true", help="keep models, logs and reports")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    print(f"## Pipeline benchmark\n\n`{shlex.join(['python', '-m', 'bench.pipeline', *argv])}`")
    print_section("Machine", markdown_table(["", ""], machine_rows()))
    workdir = Path(tempfile.mkdtemp(prefix="trustguard-pipeline-"))
    try:
        run(args, workdir)
    except KeyboardInterrupt:
        print("\ninterrupted; everything started here was stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"\nKept the run's models, logs and reports in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
