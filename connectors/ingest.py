"""``python -m connectors.ingest``: the acknowledging endpoint of a cluster (``make cluster``).

It mounts the channels of a credentials file (``credentials.production.yml`` by default) where a
Rasa server mounts them (``/webhooks/<channel>/...``), with ``TRUSTGUARD_ROLE=ingest``: Meta's
webhooks are verified, stored in the inbox and acknowledged, and the turn servers, woken through
the database, answer them. It loads no model and no Rasa server: about a quarter of a turn
server's memory (see docs/benchmarks.md, "Scale-out"), and no turn ever competes with an
acknowledgement for its event loop.
"""

from __future__ import annotations

import argparse
import importlib
import os
from typing import Any

import yaml
from rasa.core.channels.channel import InputChannel, register
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.platform.files import keep_new_files_private
from bot.platform.logs import configure_logging
from bot.platform.settings import PROJECT_ROOT, ConfigurationError, get_settings

DEFAULT_CREDENTIALS = PROJECT_ROOT / "credentials.production.yml"


def input_channels(credentials: dict[str, Any]) -> list[InputChannel]:
    """The channels a credentials file names (module path: settings), as ``rasa run`` makes
    them."""
    channels = []
    for path, settings in credentials.items():
        module, _, name = path.rpartition(".")
        channel_class = getattr(importlib.import_module(module), name)
        channels.append(channel_class.from_credentials(settings))
    return channels


def create_app(credentials: dict[str, Any]) -> Sanic:
    if get_settings().role != "ingest":
        raise ConfigurationError(
            "The acknowledging endpoint runs no turns: start it with TRUSTGUARD_ROLE=ingest."
        )
    app = Sanic("trustguard-ingest", configure_logging=False)

    @app.get("/")
    async def health(_: Request) -> HTTPResponse:
        return response.text("TrustGuard ingest: webhooks are acknowledged here")

    # Rasa's own handler is handed to the channels; in this role none calls it.
    register(input_channels(credentials), app, route="/webhooks/")
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.ingest")
    parser.add_argument("--credentials", default=str(DEFAULT_CREDENTIALS))
    parser.add_argument("--port", type=int, default=int(os.environ.get("RASA_PORT", "5005")))
    args = parser.parse_args(argv)
    keep_new_files_private()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    with open(args.credentials, encoding="utf-8") as file:
        credentials = yaml.safe_load(file) or {}
    create_app(credentials).run("127.0.0.1", args.port, access_log=False)


if __name__ == "__main__":
    main()
