"""The double as one server: ``GraphDouble`` joins the messaging and OAuth parts on one aiohttp
app on loopback, and ``GraphDoubleThread`` runs it on an event loop of its own for synchronous
tests and benchmarks, with the same controls."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from aiohttp import web

from devtools.graph_double.core import DEFAULT_HOST, Record
from devtools.graph_double.facebook_login import FacebookLogin
from devtools.graph_double.instagram_login import InstagramLogin
from devtools.graph_double.messaging import Messaging

_P = ParamSpec("_P")
_R = TypeVar("_R")


class GraphDouble(Messaging, FacebookLogin, InstagramLogin):
    """The Graph API double. All state sits behind one lock so other threads may inspect it."""

    def __init__(
        self, on_send: Callable[[Record], None] | None = None, app_secret: str | None = None
    ) -> None:
        super().__init__()
        self._on_send = on_send
        self._app_secret = app_secret
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    async def start(self, host: str = DEFAULT_HOST, port: int = 0) -> None:
        """Listen on ``host:port``; port 0 picks a free one (read it back from ``url``)."""
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._url = f"http://{bound_host}:{bound_port}"

    async def stop(self) -> None:
        """Stop listening; the recorded state stays readable."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """Where the double listens, once started."""
        if self._url is None:
            raise RuntimeError("the Graph API double is not started")
        return self._url

    def _app(self) -> web.Application:
        app = web.Application()
        # Fixed paths first: /__media/{id} would otherwise match /{version}/{media_id}.
        app.add_routes(
            [
                web.get("/__sent", self._handle_list_sent),
                web.delete("/__sent", self._handle_clear),
                web.post("/__control/fail", self._handle_fail),
                web.post("/__control/media", self._handle_add_media),
                web.get("/__media/{media_id}", self._handle_media_bytes),
                web.get("/__files/{media_id}", self._handle_public_file),
                web.get("/__redirect", self._handle_redirect),
                web.post("/__control/app_secret", self._handle_set_app_secret),
                web.post("/__control/oauth_code", self._handle_add_oauth_code),
                web.get("/oauth/authorize", self._handle_instagram_dialog),
                web.post("/oauth/access_token", self._handle_instagram_code),
                web.get("/access_token", self._handle_instagram_long_lived),
                web.get("/refresh_access_token", self._handle_instagram_refresh),
                web.post("/{version}/{account_id}/messages", self._handle_send),
                web.get("/{version}/dialog/oauth", self._handle_facebook_dialog),
                web.get("/{version}/oauth/access_token", self._handle_access_token),
                web.get("/{version}/debug_token", self._handle_debug_token),
                web.get("/{version}/me", self._handle_me),
                web.get("/{version}/{waba_id}/phone_numbers", self._handle_phone_numbers),
                web.get("/{version}/{media_id}", self._handle_media_info),
            ]
        )
        return app


def _on_the_double(
    control: Callable[Concatenate[GraphDouble, _P], _R],
) -> Callable[Concatenate[GraphDoubleThread, _P], _R]:
    """A GraphDouble control as a GraphDoubleThread method: same signature and docstring. The
    double's state is locked, so calling it from the test's thread is safe."""

    @functools.wraps(control)
    def on_the_double(self: GraphDoubleThread, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return control(self._double, *args, **kwargs)

    return on_the_double


class GraphDoubleThread:
    """A GraphDouble on its own event loop in a daemon thread, for synchronous tests."""

    def __init__(
        self, host: str = DEFAULT_HOST, port: int = 0, app_secret: str | None = None
    ) -> None:
        self._host = host
        self._port = port
        self._double = GraphDouble(app_secret=app_secret)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="graph-double", daemon=True
        )

    def __enter__(self) -> GraphDoubleThread:
        self._thread.start()
        try:
            self._run(self._double.start(self._host, self._port))
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._run(self._double.stop())
        finally:
            self._shutdown()

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def _shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def url(self) -> str:
        """Where the double listens, once entered."""
        return self._double.url

    def sent(self) -> list[Record]:
        """A copy of every recorded send, oldest first."""
        return self._double.sent

    def downloads(self) -> list[Record]:
        """A copy of every media download asked of the double, oldest first."""
        return self._double.downloads

    def oauth_calls(self) -> list[Record]:
        """A copy of every OAuth call, oldest first, without codes, secrets or tokens."""
        return self._double.oauth_calls

    def wait_for_sends(self, count: int, timeout: float = 5.0) -> list[Record]:
        """Block until at least ``count`` sends are recorded (within ``timeout`` seconds)."""
        return self._double.wait_for_sends(count, timeout)

    fail_next = _on_the_double(GraphDouble.fail_next)
    add_media = _on_the_double(GraphDouble.add_media)
    add_oauth_code = _on_the_double(GraphDouble.add_oauth_code)
    authorize_next = _on_the_double(GraphDouble.authorize_next)
    set_app_secret = _on_the_double(GraphDouble.set_app_secret)
    set_instagram_app_secret = _on_the_double(GraphDouble.set_instagram_app_secret)
    wrap_instagram_answers = _on_the_double(GraphDouble.wrap_instagram_answers)
    grant_of = _on_the_double(GraphDouble.grant_of)
    clear = _on_the_double(GraphDouble.clear)
