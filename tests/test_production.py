"""The production configuration publishes the Meta webhooks, the connect routes (start and
callback) and the receipt upload page, and nothing a client could use to speak for a buyer: no
REST channel and no HTTP API."""

from __future__ import annotations

import pytest
from rasa.core.run import configure_app, create_http_input_channels

from bot.platform.settings import PROJECT_ROOT, get_settings
from tests.helpers.meta import APP_SECRET, VERIFY_TOKEN


@pytest.fixture
def production_app(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("META_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("META_VERIFY_TOKEN", VERIFY_TOKEN)
    get_settings.cache_clear()
    channels = create_http_input_channels(None, str(PROJECT_ROOT / "credentials.production.yml"))
    return configure_app(channels, enable_api=False, use_uvloop=False)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_there_is_no_rest_channel(production_app, method: str) -> None:
    body = {"sender": "x", "message": "register"}
    _, response = await production_app.asgi_client.request(
        method, "/webhooks/rest/webhook", json=body
    )
    assert response.status == 404


async def test_there_is_no_http_api(production_app) -> None:
    for path in ("/status", "/conversations/x/tracker", "/model/parse", "/version"):
        _, response = await production_app.asgi_client.get(path)
        assert response.status == 404, path


async def test_the_meta_webhooks_and_the_connect_routes_are_served(production_app) -> None:
    _, handshake = await production_app.asgi_client.get(
        "/webhooks/whatsapp/webhook",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "7"},
    )
    assert (handshake.status, handshake.text) == (200, "7")
    _, unsigned = await production_app.asgi_client.post("/webhooks/instagram/webhook", json={})
    assert unsigned.status == 403
    _, callback = await production_app.asgi_client.get("/webhooks/connect/callback")
    assert callback.status == 400
    _, start = await production_app.asgi_client.get("/webhooks/connect/start")
    assert start.status == 400 and "incomplete" in start.text
    _, upload = await production_app.asgi_client.get("/webhooks/receipts/upload?t=unknown")
    assert upload.status == 404 and "Type upload in the chat" in upload.text


async def test_the_development_configuration_does_have_the_rest_channel(monkeypatch) -> None:
    """The check above can fail: the same app built from credentials.yml serves REST."""
    monkeypatch.setenv("META_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("META_VERIFY_TOKEN", VERIFY_TOKEN)
    get_settings.cache_clear()
    channels = create_http_input_channels(None, str(PROJECT_ROOT / "credentials.yml"))
    app = configure_app(channels, enable_api=False, use_uvloop=False)
    _, response = await app.asgi_client.get("/webhooks/rest/")
    assert response.status == 200
