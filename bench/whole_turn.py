"""``python -m bench.whole_turn``: what a 4096-character buyer message costs a whole turn, against
a short one, in the same run.

The assistant runs as ``make run`` starts it (Rasa server with the trained model, action server,
fresh SQLite databases), pointed at the Graph API double. Each turn is a signed WhatsApp webhook
POSTed to the channel: the signature, the inbox, the 4096 cut, NLU (tokenizer, featurizers,
DIET), the policies, the action server and its database transaction, the response generator,
the sends, and the redacted copies in the tracker store and the inbox. For each turn:

- **reply**: from the POST to the turn's last reply, as the double stamped it on arrival (what
  the buyer waits);
- **done**: from the POST until the inbox row is closed, after the tracker store was written;
- **server CPU**: CPU time the Rasa server and the action server spent meanwhile, which other
  work on a shared machine inflates far less than wall time.

The short message and the long one (the same sentence repeated to 4096 characters, so both take
the same path and get the same answer) alternate in a shuffled order, one turn at a time, so the
machine's noise falls on both alike. Each kind has buyers of its own: a long message also weighs
on every later turn of its conversation (Rasa sends the session's events to the action server
and featurizes them for the policies), so the long kind is measured in conversations of long
messages, its worst case, and the short kind in conversations of short ones.

    python -m bench.whole_turn [--turns 100] [--buyers 10] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.assistant import WEBHOOK_PATH, Assistant, start_assistant
from bench.procfs import cpu_seconds
from bench.reporting import markdown_table, percentile_ms, print_section, progress
from bench.runs import in_temporary_workdir, positive, run_benchmark
from bench.webhook_load import make_webhook
from bench.webhook_report import CpuClock, other_work_table
from bench.webhook_stack import inbox_states, last_inbox_id
from devtools.graph_double import GraphDoubleThread, Record, recipient_of

SHORT = "I paid for ORD-7F3K9Q yesterday, please check the transfer and confirm."
MESSAGES = {"short": SHORT, "4096 characters": ((SHORT + " ") * 60)[:4096]}
BUYER_PREFIX = "234812"
TURN_TIMEOUT = 60.0
POLL_INTERVAL = 0.005
QUIET_SECONDS = 1.0
SEED = 20261206


@dataclass(frozen=True)
class Target:
    """The running assistant's WhatsApp webhook and what it is watched through."""

    assistant: Assistant
    graph: GraphDoubleThread
    secret: str

    def post(self, buyer: str, text: str) -> None:
        webhook = make_webhook(text, buyer, "Ada", self.secret)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": webhook.signature}
        answer = requests.post(
            self.assistant.url + WEBHOOK_PATH,
            data=webhook.body,
            headers=headers,
            timeout=TURN_TIMEOUT,
        )
        answer.raise_for_status()

    def replies_since(self, buyer: str, since: float) -> list[Record]:
        return [
            record
            for record in self.graph.sent()
            if recipient_of(record["body"]) == buyer and received_at(record) >= since
        ]


@dataclass(frozen=True)
class Turn:
    reply: float
    done: float
    server_cpu: float
    said: str


def received_at(record: Record) -> float:
    return dt.datetime.fromisoformat(record["received_at"]).timestamp()


def replies_per_turn(target: Target, buyer: str, text: str) -> int:
    """How many replies a turn of this text gives: counted once they stop coming."""
    started = time.time()
    target.post(buyer, text)
    deadline = time.monotonic() + TURN_TIMEOUT
    while not target.replies_since(buyer, started):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no reply to {text[:30]!r} within {TURN_TIMEOUT:.0f} s")
        time.sleep(POLL_INTERVAL)
    seen = 0
    while (count := len(target.replies_since(buyer, started))) != seen:
        seen = count
        time.sleep(QUIET_SECONDS)
    return count


def timed_turn(target: Target, buyer: str, text: str, replies: int) -> Turn:
    database = target.assistant.database
    after = last_inbox_id(database)
    cpu, started = cpu_seconds(target.assistant.process.pid), time.time()
    target.post(buyer, text)
    deadline = time.monotonic() + TURN_TIMEOUT
    while True:
        answered = target.replies_since(buyer, started)
        states = inbox_states(database, after)
        if len(answered) >= replies and states.get("done") == 1:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(answered)} of {replies} replies, inbox {states}")
        time.sleep(POLL_INTERVAL)
    done = time.time() - started
    server_cpu = cpu_seconds(target.assistant.process.pid) - cpu
    said = " / ".join(str(record["body"].get("text", {}).get("body", "")) for record in answered)
    reply = max(received_at(record) for record in answered) - started
    return Turn(reply, done, server_cpu, said)


def run(args: argparse.Namespace, workdir: Path) -> None:
    rng = random.Random(SEED)
    buyers = {
        kind: [f"{BUYER_PREFIX}{k}{n:06d}" for n in range(args.buyers)]
        for k, kind in enumerate(MESSAGES)
    }
    turns: dict[str, list[Turn]] = {kind: [] for kind in MESSAGES}
    clock, began = CpuClock.read(), time.monotonic()
    with contextlib.ExitStack() as stack:
        graph = stack.enter_context(GraphDoubleThread())
        secret = secrets.token_hex(16)
        progress("starting the assistant")
        target = Target(start_assistant(stack, workdir, graph.url, secret), graph, secret)

        progress("warming up: each buyer's first turn, not counted")
        replies = {
            kind: {replies_per_turn(target, buyer, text) for buyer in buyers[kind]}
            for kind, text in MESSAGES.items()
        }
        if any(len(counts) != 1 for counts in replies.values()):
            raise RuntimeError(f"turns of one kind gave different numbers of replies: {replies}")

        progress(f"{args.turns} turns of each kind")
        for round_ in range(args.turns):
            for kind in rng.sample(list(MESSAGES), len(MESSAGES)):
                buyer = buyers[kind][round_ % args.buyers]
                [count] = replies[kind]
                turns[kind].append(timed_turn(target, buyer, MESSAGES[kind], count))
    wall = time.monotonic() - began

    print_section("Whole turns, one at a time", turn_table(turns))
    said = [[kind, "<br>".join(sorted({t.said for t in taken}))] for kind, taken in turns.items()]
    print_section("What the buyers were told", markdown_table(["message", "replies"], said))
    print_section("Other work on the machine", other_work_table(clock, CpuClock.read(), wall))


def turn_table(turns: dict[str, list[Turn]]) -> str:
    """Wall times by percentile; CPU as a mean, since the kernel counts it in 10 ms ticks."""
    short = turns["short"]
    rows = []
    for kind, taken in turns.items():
        row: list[object] = [kind, len(MESSAGES[kind]), len(taken)]
        for measure in ("reply", "done"):
            mine = [getattr(turn, measure) for turn in taken]
            base = [getattr(turn, measure) for turn in short]
            row += [
                f"{percentile_ms(mine, 50):.1f} / {percentile_ms(mine, 95):.1f}",
                f"{percentile_ms(mine, 50) / percentile_ms(base, 50):.2f}x",
            ]
        cpu, base_cpu = mean_ms(taken), mean_ms(short)
        rows.append([*row, f"{cpu:.1f}", f"{cpu / base_cpu:.2f}x"])
    headers = ["message", "characters", "turns"]
    for measure in ("reply", "done"):
        headers += [f"{measure} p50 / p95 ms", f"{measure} p50 / short"]
    headers += ["server CPU ms per turn (mean)", "server CPU / short"]
    return markdown_table(headers, rows)


def mean_ms(turns: list[Turn]) -> float:
    return sum(turn.server_cpu for turn in turns) / len(turns) * 1000


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.whole_turn", description=__doc__)
    parser.add_argument("--turns", type=positive, default=100, help="of each kind")
    parser.add_argument("--buyers", type=positive, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    body = in_temporary_workdir("trustguard-whole-turn-", "the run's databases and logs", run)
    title = "A whole turn, a 4096-character message against a short one"
    return run_benchmark(title, "bench.whole_turn", parse_args, body, argv, ("rasa",))


if __name__ == "__main__":
    raise SystemExit(main())
