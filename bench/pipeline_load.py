"""The load of the pipeline benchmark: both configurations served at once, their buyers planned
before the servers start, warmed up, then measured point by point (channel and concurrency) in
alternating order, topped up to the memory reading, and finally asked to parse the held-out and
issued messages. What each configuration showed is gathered in a ``Served``."""

from __future__ import annotations

import argparse
import contextlib
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.assistant import PHONE_NUMBER_ID, SHOP_ID, WEBHOOK_PATH, assistant_env, prepare_database
from bench.conversations import (
    JOURNEY,
    BenchLoop,
    Buyer,
    LoadRun,
    RestChannel,
    WhatsAppChannel,
    conversations_needed,
    create_buyers,
    drive,
)
from bench.pipeline_heldout import Example, issued_examples
from bench.pipeline_scoring import Parsed, parse_all
from bench.pipeline_stacks import (
    CANDIDATES,
    Candidate,
    OtherWork,
    Stack,
    Trained,
    own_cpu_seconds,
    started_stack,
    wait_for_quiet,
)
from bench.procfs import cpu_seconds
from bench.reporting import progress

CHANNELS = ("rest", "whatsapp")

Point = tuple[str, object]  # (channel, concurrency or "warm-up" or "top-up")


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


def user_ids(channel: str, config: int, point: int, count: int) -> list[str]:
    """Distinct per configuration and point, so a late reply is never taken for another's;
    WhatsApp ids are phone numbers."""
    if channel == "whatsapp":
        return [f"234{config}{point:02d}{i:06d}" for i in range(count)]
    return [f"buyer-{config}-{point:02d}-{i:04d}" for i in range(count)]


def plan_buyers(
    database_url: str, config: int, args: argparse.Namespace
) -> dict[Point, list[Buyer]]:
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

    def __init__(
        self, stack: Stack, plan: dict[Point, list[Buyer]], loop: BenchLoop, secret: str
    ) -> None:
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
    prepare_database(env)
    plan = plan_buyers(env["DATABASE_URL"], config, args)
    servers = started_stack(candidate, trained, env, workdir, running_stacks)
    with servers as (stack, startup):
        current = Serving(stack, plan, loop, secret)
        current.served.actions_startup_seconds = startup.actions_seconds
        current.served.startup_seconds = startup.rasa_seconds
        current.served.startup_other_cpu = startup.other_cpu
        current.served.rss_start = stack.rss_mib()
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
