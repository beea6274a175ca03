"""The action server answers only the Rasa server: calls without the shared secret are refused."""

from __future__ import annotations

import pytest
from sanic import Sanic

from actions.server import TOKEN_HEADER, action_server_token, create
from bot.platform import db
from bot.platform.models import OtpChallenge
from bot.platform.settings import ConfigurationError
from tests.conftest import make_shop, tracker_for

TOKEN = "action-server-token-0123456789abcdefghij"


@pytest.fixture
def app() -> Sanic:
    return create(TOKEN)


def call(action: str = "action_register_buyer") -> dict:
    tracker = tracker_for("ada", "register", intent="register")
    state = {
        "sender_id": tracker.sender_id,
        "slots": tracker.slots,
        "latest_message": tracker.latest_message,
        "events": tracker.events,
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    return {"next_action": action, "sender_id": "ada", "tracker": state, "domain": {}}


@pytest.mark.parametrize("presented", [None, "", "guess", TOKEN[:-1], TOKEN + "x"])
async def test_a_call_without_the_secret_is_refused_and_runs_nothing(
    app: Sanic, presented: str | None
) -> None:
    make_shop()
    headers = {TOKEN_HEADER: presented} if presented is not None else {}
    for path in ("/webhook", "/actions"):
        _, answer = await app.asgi_client.post(path, json=call(), headers=headers)
        assert answer.status == 401, path
        assert "code" not in answer.text
    with db.session_scope() as session:
        assert session.query(OtpChallenge).count() == 0


async def test_rasa_with_the_secret_is_answered(app: Sanic) -> None:
    make_shop()
    _, answer = await app.asgi_client.post("/webhook", json=call(), headers={TOKEN_HEADER: TOKEN})
    assert answer.status == 200
    assert [r["response"] for r in answer.json["responses"]] == ["utter_welcome_new"]


async def test_health_needs_no_secret(app: Sanic) -> None:
    _, answer = await app.asgi_client.get("/health")
    assert answer.status == 200


@pytest.mark.parametrize("value", [None, "", "short"])
def test_the_server_does_not_start_without_a_real_secret(monkeypatch, value) -> None:
    if value is None:
        monkeypatch.delenv("ACTION_SERVER_TOKEN", raising=False)
    else:
        monkeypatch.setenv("ACTION_SERVER_TOKEN", value)
    with pytest.raises(ConfigurationError, match="ACTION_SERVER_TOKEN"):
        action_server_token()
