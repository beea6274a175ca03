"""Where Meta sends a shop owner back after the OAuth dialog: ``GET /webhooks/connect/callback``.

A Rasa input channel only so that the Rasa server serves the route (listed in credentials.yml);
it never hands anything to the assistant. The query carries a one-time code and our state, so the
page is never cached, sends no referrer, and the access log shows the path without the query.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.meta import oauth
from bot.meta.graph import GraphClient
from bot.platform.db import session_scope
from bot.platform.secrets import check_jwt_key
from bot.platform.settings import get_settings
from bot.shop.shops import get_shop

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/callback"
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'",
}


class HideCallbackQuery(logging.Filter):
    """Drops the query (code and state) from Sanic's access-log lines for the callback."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if isinstance(request, str) and f"{MetaConnectInput.name()}{CALLBACK_PATH}?" in request:
            record.request = request.split("?", 1)[0] + "?[redacted]"
        return True


_ACCESS_LOG_FILTER = HideCallbackQuery()


class MetaConnectInput(InputChannel):
    def __init__(self, graph: GraphClient) -> None:
        self._graph = graph

    @classmethod
    def name(cls) -> str:
        return "connect"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> MetaConnectInput:
        """Everything comes from the environment and the secrets layer; a server without Meta
        settings still starts, and the callback page says connecting is not set up."""
        settings = get_settings()
        check_jwt_key()  # connect links are signed with it
        return cls(GraphClient(settings.graph_api_url, settings.graph_api_version))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        access_log = logging.getLogger("sanic.access")
        if _ACCESS_LOG_FILTER not in access_log.filters:
            access_log.addFilter(_ACCESS_LOG_FILTER)
        connect = Blueprint("meta_connect", __name__)

        @connect.route(CALLBACK_PATH, methods=["GET"])
        async def callback(request: Request) -> HTTPResponse:
            return await self._callback(request)

        @connect.listener("after_server_stop")
        async def close(app: Any, _loop: Any) -> None:
            await self._graph.close()

        return connect

    async def _callback(self, request: Request) -> HTTPResponse:
        declined = request.args.get("error")
        code = request.args.get("code")
        state = request.args.get("state")
        if declined:
            # Meta's reason (e.g. user_denied) is no secret; its free text is not logged.
            logger.info(
                "shop owner declined the connection",
                extra={"error": declined, "reason": request.args.get("error_reason")},
            )
            return _page(
                400,
                "Not connected",
                "You did not allow TrustGuard to use your account, so nothing was connected. "
                "To try again, ask for a new connect link (run the connect-url command again).",
            )
        if not code or not state:
            return _page(
                400,
                "Not connected",
                "This link is incomplete. Ask for a new connect link (run the connect-url "
                "command again) and open it.",
            )
        try:
            connected = await oauth.complete(state, code, self._graph)
        except oauth.OAuthError as error:
            return _page(400, "Not connected", str(error))
        except Exception as error:
            # No traceback: a database error would print its parameters, among them the nonce.
            logger.error("connecting a shop failed", extra={"error": type(error).__name__})
            return _page(
                500,
                "Not connected",
                "Something went wrong on our side and nothing was connected. Please try again "
                "in a few minutes with a new connect link.",
            )
        shop_name = await asyncio.to_thread(_shop_name, connected.shop_id)
        what = oauth.PLATFORM_NAMES[connected.platform]
        message = f"Your {what} is connected to {shop_name}. You can close this page."
        return _page(200, "Connected", message)


def _shop_name(shop_id: str) -> str:
    with session_scope() as session:
        shop = get_shop(session, shop_id)
        return shop.name if shop else shop_id


def _page(status: int, title: str, message: str) -> HTTPResponse:
    body = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · TrustGuard</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>\n"
    )
    return response.html(body, status=status, headers=_HEADERS)
