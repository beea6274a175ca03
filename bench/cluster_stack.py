"""``make cluster`` started for a benchmark or a test: ``python -m bot.cluster`` with the given
environment, waited for until every server is up, its members read from ``var/cluster.json``."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

from bot.cluster import STATE_FILE
from bot.platform.readiness import NotReady, wait_until_ready
from bot.platform.settings import PROJECT_ROOT

# Two Rasa servers loading TensorFlow and the model at once, on two cores.
START_TIMEOUT = 900.0
STOP_TIMEOUT = 180.0


def empty_redis_database() -> str:
    """The URL of an empty database of the machine's Redis, for the cluster's locks alone (the
    caller empties it again afterwards)."""
    for number in random.sample(range(1, 16), 15):
        url = f"redis://127.0.0.1:6379/{number}"
        if redis.Redis.from_url(url).dbsize() == 0:
            return url
    raise RuntimeError("no empty Redis database to use")


class RunningCluster:
    """The cluster's launcher and the processes it started (``members``: role, port, pid)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.url = f"http://127.0.0.1:{env['RASA_PORT']}"
        self._log = log.open("ab")
        STATE_FILE.unlink(missing_ok=True)  # left by a cluster that was killed
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cluster"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not STATE_FILE.exists():
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise NotReady(f"the cluster did not start; see {log}")
                time.sleep(0.5)
            wait_until_ready(f"{self.url}/", self.process, 60, what="the acknowledging endpoint")
        except BaseException:
            self.stop()
            raise
        self.members: list[dict[str, Any]] = json.loads(STATE_FILE.read_text())

    def of_role(self, role: str) -> list[dict[str, Any]]:
        return [member for member in self.members if member["role"] == role]

    def stop(self) -> int:
        """Ctrl-C, as in a terminal: every server is stopped, the turns in progress finished."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
            return self.process.wait(timeout=STOP_TIMEOUT)
        finally:
            self._log.close()
