"""The processes a benchmark starts: each in its own process group, so that it and whatever it
starts are stopped together however the benchmark ends."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from bot.platform.settings import PROJECT_ROOT

START_TIMEOUT = 300.0
STOP_TIMEOUT = 180.0  # the launcher gives each server up to 75 s to stop


@contextlib.contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``args`` started in the project root with its output in ``log``, stopped when the block
    ends."""
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
