"""Waiting for a server to answer: the one readiness poll of the launcher, the benchmarks, the
tests and ``scripts/chat-whatsapp`` (``python -m bot.platform.readiness URL --pid PID``)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Protocol


class NotReady(RuntimeError):
    """The server exited during start-up, or did not answer in time."""


class Running(Protocol):
    """What is asked of the process that serves: ``subprocess.Popen`` has it."""

    returncode: int | None

    def poll(self) -> int | None: ...


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url`` answers with a 2xx now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until_ready(
    url: str,
    process: Running | None,
    timeout: float,
    *,
    what: str = "the server",
    poll: float = 0.5,
) -> float:
    """Seconds until ``url`` answered 2xx; NotReady if ``process`` exits or time runs out first."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process is not None and process.poll() is not None:
            raise NotReady(f"{what} exited with status {process.returncode} during start-up")
        if answers(url, timeout=min(2.0, timeout)):
            return time.monotonic() - started
        time.sleep(poll)
    raise NotReady(f"{what} was not ready after {timeout:.0f} s")


class _Pid:
    """A process this one did not start, known by its pid (its exit status is not ours to see)."""

    returncode: int | None = None

    def __init__(self, pid: int) -> None:
        self._pid = pid

    def poll(self) -> int | None:
        try:
            os.kill(self._pid, 0)
        except ProcessLookupError:
            self.returncode = -1
        return self.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.platform.readiness")
    parser.add_argument("url")
    parser.add_argument("--timeout", type=float, default=240)
    parser.add_argument("--pid", type=int, help="give up as soon as this process is gone")
    parser.add_argument("--what", default="the server")
    args = parser.parse_args(argv)
    try:
        wait_until_ready(
            args.url, _Pid(args.pid) if args.pid else None, args.timeout, what=args.what
        )
    except NotReady as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
