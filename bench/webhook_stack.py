"""What the webhook benchmark starts and watches: the Graph API double, the assistant as
``make run`` starts it and the bare Sanic baseline, each on loopback from fresh files; then the
assistant's inbox and the replies the double received."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.assistant import CHANNEL_HEALTH_PATH, PHONE_NUMBER_ID, WEBHOOK_PATH, start_assistant
from bench.processes import START_TIMEOUT, running
from bench.runs import temporary_workdir
from bot.platform.readiness import wait_until_ready
from bot.platform.settings import PROJECT_ROOT
from devtools.graph_double import GraphDoubleThread, Record, recipient_of
from devtools.ports import free_port

POLL_INTERVAL = 0.5


@dataclass(frozen=True)
class Stack:
    """What one benchmark run talks to."""

    assistant: str
    probe: str
    baseline: str
    graph: GraphDoubleThread
    app_secret: str
    database: Path


def start(stack: contextlib.ExitStack, keep: bool) -> Stack:
    """Everything the run needs, each piece registered on ``stack`` to be stopped or removed."""
    workdir = stack.enter_context(
        temporary_workdir("trustguard-bench-", keep, "the run's databases and logs")
    )
    graph = stack.enter_context(GraphDoubleThread())
    app_secret = secrets.token_hex(16)

    baseline_port = free_port()
    baseline_url = f"http://127.0.0.1:{baseline_port}"
    baseline_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    baseline_args = [sys.executable, "-m", "bench.bare_sanic", "--port", str(baseline_port)]
    baseline = stack.enter_context(running(baseline_args, baseline_env, workdir / "baseline.log"))
    assistant = start_assistant(stack, workdir, graph.url, app_secret)
    wait_until_ready(
        baseline_url + CHANNEL_HEALTH_PATH, baseline, START_TIMEOUT, what="the baseline"
    )
    return Stack(
        assistant=assistant.url + WEBHOOK_PATH,
        probe=assistant.url + CHANNEL_HEALTH_PATH,
        baseline=baseline_url + WEBHOOK_PATH,
        graph=graph,
        app_secret=app_secret,
        database=assistant.database,
    )


def last_inbox_id(database: Path) -> int:
    """Where a phase's rows start: processed rows no longer show their sender."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        return connection.execute("SELECT COALESCE(MAX(id), 0) FROM inbox_messages").fetchone()[0]


def inbox_states(database: Path, after_id: int) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        rows = connection.execute(
            "SELECT state, COUNT(*) FROM inbox_messages WHERE id > ? GROUP BY state", (after_id,)
        )
        return dict(rows.fetchall())


def unfinished(database: Path, after_id: int) -> int:
    states = inbox_states(database, after_id)
    return states.get("received", 0) + states.get("processing", 0)


def wait_for_inbox(database: Path, after_id: int, timeout: float) -> bool:
    """True once every message stored after ``after_id`` has been processed (or timed out:
    False)."""
    deadline = time.monotonic() + timeout
    while unfinished(database, after_id):
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


def wait_for_replies(graph: GraphDoubleThread, recipients: Sequence[str], timeout: float) -> None:
    """Until every recipient got at least one reply, or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replied = {recipient_of(record["body"]) for record in replies_to(graph, recipients)}
        if replied >= set(recipients):
            return
        time.sleep(POLL_INTERVAL)
