"""The action server: rasa-sdk's app, on loopback unless told otherwise, answering only Rasa.

An action call carries a buyer's identity and gets back what the bot will say (a fresh one-time
code, say), so a call without the shared secret (``ACTION_SERVER_TOKEN``, which the Rasa server
sends as the ``X-Action-Token`` header of ``action_endpoint`` in ``endpoints.yml``) is refused.
"""

from __future__ import annotations

import hmac
import os

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.platform.settings import ConfigurationError

TOKEN_HEADER = "X-Action-Token"
# What answers without the secret: the launcher's and a load balancer's readiness check.
OPEN_PATHS = frozenset({"/health"})


def action_server_token() -> str:
    token = os.environ.get("ACTION_SERVER_TOKEN", "")
    if len(token) < 32:
        raise ConfigurationError(
            "ACTION_SERVER_TOKEN must be a random string of at least 32 characters, the same for "
            "the Rasa server and the action server (`make run` sets one)."
        )
    return token


def create(token: str) -> Sanic:
    app = create_app("actions", cors_origins=None)

    @app.middleware("request")
    async def only_rasa(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        presented = request.headers.get(TOKEN_HEADER) or ""
        if hmac.compare_digest(presented.encode(), token.encode()):
            return None
        return response.json({"error": "unauthorized"}, status=401)

    return app


def serve(token: str) -> None:
    host = os.environ.get("ACTIONS_HOST", "127.0.0.1")
    port = int(os.environ.get("ACTIONS_PORT", "5055"))
    create(token).run(host, port, access_log=False)
