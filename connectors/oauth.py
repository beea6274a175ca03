"""Connecting a shop, in the owner's browser: ``GET /webhooks/connect/start?link=...`` (the link the
connect-url command prints) and ``GET /webhooks/connect/callback``, where Meta sends the owner back.

The start route gives the browser a cookie with a random nonce and redirects it to Meta's dialog
with a state bound to that nonce; the callback connects only for the browser with the cookie,
then clears it. A Rasa input channel only so that the Rasa server serves the routes (listed in
credentials.yml); it never hands anything to the assistant. The queries carry the signed link, a
one-time code and our state, so no page is cached or sends a referrer, and the access log shows
the paths without their queries.
"""

from __future__ import annotations

import asyncio
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
from connectors.pages import hide_query_in_access_log, message_page

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/callback"
START_PATH = f"/{oauth.START_ROUTE}"
# The browser's nonce, between the start route and the callback (bot.meta.oauth.open_link).
COOKIE = "trustguard_connect"
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'",
}


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
        for path in (START_PATH, CALLBACK_PATH):
            hide_query_in_access_log(f"/webhooks/{self.name()}{path}")
        connect = Blueprint("meta_connect", __name__)

        @connect.route(START_PATH, methods=["GET"])
        async def start(request: Request) -> HTTPResponse:
            return await _start(request)

        @connect.route(CALLBACK_PATH, methods=["GET"])
        async def callback(request: Request) -> HTTPResponse:
            return await self._callback(request)

        @connect.listener("after_server_stop")
        async def close(app: Any, _loop: Any) -> None:
            await self._graph.close()

        return connect

    async def _callback(self, request: Request) -> HTTPResponse:
        """The page for the owner, which also clears the browser's nonce: it is good once."""
        page = await self._connect(request)
        _set_cookie(page, _cookie_path(request), "", max_age=0)
        return page

    async def _connect(self, request: Request) -> HTTPResponse:
        declined = request.args.get("error")
        code = request.args.get("code")
        state = request.args.get("state")
        if declined:
            # Meta's reason (e.g. user_denied) is no secret; its free text is not logged.
            logger.info(
                "shop owner declined the connection",
                extra={"error": declined, "reason": request.args.get("error_reason")},
            )
            return message_page(
                400,
                "Not connected",
                "You did not allow TrustGuard to use your account, so nothing was connected. "
                "To try again, ask for a new connect link (run the connect-url command again).",
            )
        if not code or not state:
            return message_page(
                400,
                "Not connected",
                "This link is incomplete. Ask for a new connect link (run the connect-url "
                "command again) and open it.",
            )
        try:
            connected = await oauth.complete(state, code, self._graph, request.cookies.get(COOKIE))
        except oauth.OAuthError as error:
            return message_page(400, "Not connected", str(error))
        except Exception as error:
            # No traceback: a database error would print its parameters, among them the nonce.
            logger.error("connecting a shop failed", extra={"error": type(error).__name__})
            return message_page(
                500,
                "Not connected",
                "Something went wrong on our side and nothing was connected. Please try again "
                "in a few minutes with a new connect link.",
            )
        shop_name = await asyncio.to_thread(_shop_name, connected.shop_id)
        what = oauth.PLATFORM_NAMES[connected.platform]
        message = f"Your {what} is connected to {shop_name}. You can close this page."
        return message_page(200, "Connected", message)


async def _start(request: Request) -> HTTPResponse:
    """Binds the connection to this browser with a cookie, then on to Meta's dialog."""
    link = request.args.get("link")
    if not link:
        return message_page(
            400,
            "Not connected",
            "This link is incomplete. Ask for a new connect link (run the connect-url command "
            "again) and open it.",
        )
    try:
        dialog = await asyncio.to_thread(oauth.open_link, link)
    except oauth.OAuthError as error:
        return message_page(400, "Not connected", str(error))
    redirect = response.redirect(dialog.url, headers=_HEADERS)
    _set_cookie(redirect, _cookie_path(request), dialog.browser_nonce, max_age=dialog.expires_in)
    return redirect


def _cookie_path(request: Request) -> str:
    """The connect routes' own prefix (``/webhooks/connect``): the cookie goes nowhere else."""
    return request.path.rsplit("/", 1)[0]


def _set_cookie(page: HTTPResponse, path: str, value: str, *, max_age: int) -> None:
    """HttpOnly and SameSite=Lax: scripts never read it, and other sites' requests do not carry
    it, but Meta's redirect back (a top-level GET) does. Secure, unless plain-http development."""
    page.cookies[COOKIE] = value
    cookie = page.cookies[COOKIE]
    cookie["path"] = path
    cookie["max-age"] = max_age
    cookie["httponly"] = True
    cookie["samesite"] = "Lax"
    cookie["secure"] = oauth.https_only()


def _shop_name(shop_id: str) -> str:
    with session_scope() as session:
        shop = get_shop(session, shop_id)
        return shop.name if shop else shop_id
