"""The Rasa server's routes on real HTTP, for the upload page's tests."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from rasa.core.agent import Agent
from rasa.core.run import configure_app, create_http_input_channels
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig
from sanic import Sanic

from bench.receipts_corpus import samples
from bot.platform import db
from bot.platform.settings import PROJECT_ROOT, get_settings
from bot.shop import orders, shops
from bot.shop.buyers import get_or_create_buyer
from bot.shop.upload_links import issue_link
from devtools.graph_double import GraphDoubleThread
from devtools.ports import free_port
from tests.conftest import make_shop
from tests.helpers.meta import APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN

SAMPLE = next(iter(samples(1)))
LAUNCHER_LIMIT = 3 * 1024 * 1024  # what bot.launcher sets as SANIC_REQUEST_MAX_SIZE


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, graph: GraphDoubleThread) -> Iterator[str]:
    """The Rasa server's routes (credentials.yml) on a free port, with the 3 MB body limit the
    launcher sets, and the shop's response generator as the agent's."""
    port = free_port()
    monkeypatch.setenv("SANIC_REQUEST_MAX_SIZE", str(LAUNCHER_LIMIT))
    monkeypatch.setenv("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("META_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("META_VERIFY_TOKEN", VERIFY_TOKEN)
    monkeypatch.setenv("GRAPH_API_URL", graph.url)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "test-whatsapp-token")
    get_settings.cache_clear()
    Sanic._app_registry.clear()
    channels = create_http_input_channels(None, str(PROJECT_ROOT / "credentials.yml"))
    app = configure_app(channels, enable_api=False, use_uvloop=False)
    app.ctx.agent = Agent(
        domain=Domain.load(str(PROJECT_ROOT / "domain.yml")),
        generator=EndpointConfig(type="connectors.nlg.ShopResponseGenerator"),
    )
    thread = threading.Thread(
        target=app.run,
        kwargs={"host": "127.0.0.1", "port": port, "access_log": False,
                "register_sys_signals": False},
        daemon=True,
    )  # fmt: skip
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(f"{base}/webhooks/rest/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    yield base
    app.stop()
    thread.join(10)


def a_link(channel: str = "rest", key: str = "ada") -> tuple[str, str]:
    """A shop, a buyer's order of the sample's amount, and an upload link for it: the link's
    URL and the order id."""
    make_shop()
    with db.session_scope() as session:
        shop = shops.get_shop(session, "mama-put")
        if channel == "whatsapp":
            shops.link_account(session, shop, "whatsapp", PHONE_NUMBER_ID)
        buyer, _ = get_or_create_buyer(session, "mama-put", channel, key)
        order = orders.create_order(session, buyer, SAMPLE.amount_kobo, "Ankara")
        order.created_at = dt.datetime(2026, 1, 1)  # before the sample's transfer
        token = issue_link(session, buyer, order, channel, key).token
        order_id = order.id
    return f"{get_settings().public_base_url}/webhooks/receipts/upload?t={token}", order_id
