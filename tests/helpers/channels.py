"""The WhatsApp and Instagram channels as Rasa serves them, with a stand-in for Rasa itself."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import sqlalchemy as sa
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.shared.core.domain import Domain
from sanic import Sanic

from bot.meta.inbox import UNFINISHED
from bot.platform import db
from bot.platform.models import InboxMessage
from bot.platform.settings import PROJECT_ROOT
from connectors.nlg import ShopProfiles, ShopResponseGenerator
from devtools.ports import free_port

DOMAIN = Domain.load(str(PROJECT_ROOT / "domain.yml"))


class RasaStandIn:
    """Records each message and answers it through the channel's output channel, as Rasa does."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"got: {message.text}")

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.messages]


def agent() -> Agent:
    """The Rasa server's agent, as far as a channel uses it: the domain, the shops' response
    generator (reading each shop afresh) and a lock store."""
    generator = ShopResponseGenerator(domain=DOMAIN)
    generator.profiles = ShopProfiles(ttl=0)
    return Agent(domain=DOMAIN, generator=generator, lock_store=InMemoryLockStore())


def app_for(channel_class: type, rasa: RasaStandIn) -> Sanic:
    """A Sanic app serving the channel's blueprint where Rasa mounts it, with the agent a Rasa
    server gives its channels."""
    channel = channel_class.from_credentials(None)
    app = Sanic(f"test-{uuid.uuid4().hex[:8]}")
    app.ctx.agent = agent()
    app.blueprint(channel.blueprint(rasa), url_prefix=f"/webhooks/{channel.url_prefix()}")
    return app


class ServedApp:
    """A Sanic app listening on loopback, on an event loop of its own in a daemon thread, with
    its server events (``after_server_start`` ...) run as ``rasa run`` runs them."""

    def __init__(self, app: Sanic) -> None:
        self._app = app
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sanic", daemon=True)
        self._server: Any = None  # Sanic's AsyncioServer, once started

    def __enter__(self) -> ServedApp:
        self._thread.start()
        self._run(self._start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._run(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    async def _start(self) -> None:
        # Listening once created (Sanic 21.12); the events run as app.run runs them.
        server = await self._app.create_server(
            host="127.0.0.1", port=self.port, return_asyncio_server=True, access_log=False
        )
        await server.startup()
        await server.before_start()
        await server.after_start()
        self._server = server

    async def _stop(self) -> None:
        if self._server is not None:
            await self._server.before_stop()
            await self._server.close()
            await self._server.after_stop()

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)


def unanswered() -> int:
    """Messages of the inbox waiting for a turn or in one."""
    with db.session_scope() as session:
        return session.execute(
            sa.select(sa.func.count()).where(InboxMessage.state.in_(UNFINISHED))
        ).scalar_one()


def wait_until_answered(timeout: float = 30.0) -> None:
    """Until the turn servers have finished every message of the inbox; background work is
    awaited, never timed."""
    deadline = time.monotonic() + timeout
    while unanswered():
        assert time.monotonic() < deadline, "messages were left unanswered"
        time.sleep(0.02)
