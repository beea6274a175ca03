"""The baseline of the webhook benchmark: a bare Sanic app that acknowledges and does nothing else.

It runs on the same Sanic (21.12) as the Rasa server, in one worker with the same backlog, so the
difference between the two is the cost of what the assistant adds to an acknowledgement
(signature check, parsing, the inbox write) and of the conversation turns it runs meanwhile.
Like the WhatsApp channel it answers ``GET`` on its health route, which the benchmark polls
until the app is up.

    python -m bench.bare_sanic --port 8901
"""

from __future__ import annotations

import argparse

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bench.assistant import CHANNEL_HEALTH_PATH, WEBHOOK_PATH

# What Rasa passes to app.run (rasa.core.run.serve_application), so only the handler differs.
BACKLOG = 100


def create_app() -> Sanic:
    app = Sanic("bare_webhook_baseline")

    @app.post(WEBHOOK_PATH)
    async def acknowledge(_: Request) -> HTTPResponse:
        return response.text("ok")

    @app.get(CHANNEL_HEALTH_PATH)
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_sanic")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    create_app().run(
        host="127.0.0.1",
        port=args.port,
        workers=1,
        backlog=BACKLOG,
        access_log=False,
        motd=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
