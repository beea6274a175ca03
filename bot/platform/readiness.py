"""Waiting for a server this process started: the one readiness poll of launcher, benchmarks,
tests and scripts."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request


class NotReady(RuntimeError):
    """The server exited during start-up, or did not answer in time."""


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url`` answers with a 2xx now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until_ready(
    url: str,
    process: subprocess.Popen | None,
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
