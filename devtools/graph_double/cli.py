"""The double as a command, ``python -m devtools.graph_double [--host H] [--port N]``, as
``make chat-whatsapp`` runs it: it serves until stopped and prints one line per send."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import signal

from devtools.graph_double.core import DEFAULT_HOST, DEFAULT_PORT, Record, mask
from devtools.graph_double.messaging import describe, recipient_of
from devtools.graph_double.server import GraphDouble


def send_line(record: Record) -> str:
    """How the CLI shows one send: time, account, masked recipient, outcome, text or type."""
    body = record["body"]
    # A send that reaches no one still shows where it was addressed.
    recipient = recipient_of(body) or body.get("to")
    if record["error"] is not None:
        outcome = f" FAILED {record['error']['code']}"
    else:
        outcome = "" if record["delivered"] else " NOT DELIVERED (a user id in to)"
    text = " ".join(describe(body).split())
    text = text if len(text) <= 100 else text[:99] + "…"
    clock = dt.datetime.fromisoformat(record["received_at"]).astimezone().strftime("%H:%M:%S")
    to = mask(recipient) if recipient else "-"
    return f"{clock} {record['account_id']} -> {to}{outcome}: {text}"


async def serve(host: str, port: int) -> None:
    """Run the double until Ctrl-C or SIGTERM (as from a process manager), one line per send."""
    double = GraphDouble(on_send=lambda record: print(send_line(record), flush=True))
    await double.start(host, port)
    print(f"Graph API double listening on {double.url} (Ctrl-C to stop)", flush=True)
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        await stopped.wait()
    finally:
        await double.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve; Ctrl-C is a normal way to stop."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.graph_double",
        description="Play Meta's Graph API locally and record every send.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    return 0
