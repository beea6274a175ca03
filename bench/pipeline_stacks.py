"""Stack control of the pipeline benchmark: the two configurations under test, each trained
from a cold cache and served by a Rasa server and an action server as ``make run`` starts
them, timed until ready; and keeping other work on the machine out of the measurements (or at
least reported with them)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.processes import run_to_end, running
from bench.procfs import cpu_seconds, machine_busy_seconds, rss_mib
from bot.launcher import VENV_BIN, rasa_server_command
from bot.platform.readiness import wait_until_ready
from bot.platform.settings import PROJECT_ROOT

TRAIN_TIMEOUT = 3600.0
START_TIMEOUT = 600.0
READY_POLL = 0.1
QUIET_SHARE = 0.2
QUIET_WAIT = 120.0
QUIET_POLL = 2.0


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
    Candidate("default", PROJECT_ROOT / "bench" / "default_config.yml"),
)


@dataclass(frozen=True)
class Trained:
    seconds: float
    model: Path
    other_cpu: float = 0.0


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


@dataclass(frozen=True)
class Startup:
    """Seconds from each server's start until it answered, and the share of the machine's CPU
    other processes used meanwhile."""

    actions_seconds: float
    rasa_seconds: float
    other_cpu: float


def rasa_env(workdir: Path, cache: str) -> dict[str, str]:
    """Rasa's training cache in the run's directory, one per configuration: each trains cold,
    and the project's .rasa/cache is left alone."""
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONPATH": str(PROJECT_ROOT),
        "RASA_CACHE_DIRECTORY": str(workdir / f"cache-{cache}"),
    }


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


def start_timed(
    stack: contextlib.ExitStack,
    args: list[str],
    env: dict[str, str],
    log: Path,
    ready_url: str,
    what: str,
) -> tuple[subprocess.Popen, float]:
    """``args`` started (and stopped when ``stack`` closes), with the seconds from its start
    until ``ready_url`` answered 200."""
    started = time.perf_counter()
    process = stack.enter_context(running(args, env, log))
    spawned = time.perf_counter() - started
    ready = wait_until_ready(ready_url, process, START_TIMEOUT, what=what, poll=READY_POLL)
    return process, spawned + ready


@contextlib.contextmanager
def started_stack(
    candidate: Candidate,
    trained: Trained,
    env: dict[str, str],
    workdir: Path,
    running_stacks: Sequence[Stack],
) -> Iterator[tuple[Stack, Startup]]:
    """Both servers of ``candidate`` once the machine is quiet, the action server first, each
    timed until ready; stopped when the block ends."""
    wait_for_quiet(running_stacks)
    started_here: list[subprocess.Popen] = []
    other = OtherWork(
        lambda: own_cpu_seconds(running_stacks) + sum(cpu_seconds(p.pid) for p in started_here)
    )
    with contextlib.ExitStack() as stack:
        actions, actions_startup = start_timed(
            stack, [sys.executable, "-m", "actions"], env, workdir / "actions.log",
            f"http://127.0.0.1:{env['ACTIONS_PORT']}/health", "the action server",
        )  # fmt: skip
        started_here.append(actions)
        url, token = f"http://127.0.0.1:{env['RASA_PORT']}", env["RASA_API_TOKEN"]
        server, rasa_startup = start_timed(
            stack, rasa_server_command(trained.model, env), env, workdir / "rasa.log",
            f"{url}/status?token={token}", f"the Rasa server ({candidate.name})",
        )  # fmt: skip
        started_here.append(server)
        startup = Startup(actions_startup, rasa_startup, other.share())
        yield Stack(url, token, server, actions), startup
