"""The Instagram Login client against the Graph API double on loopback, which plays
api.instagram.com and graph.instagram.com: a code exchanged, made long-lived, then refreshed."""

from __future__ import annotations

import asyncio

import pytest

from bot.meta.graph import GraphError
from bot.meta.instagram_login import InstagramLogin
from bot.platform.settings import get_settings
from devtools.graph_double import TOKEN_EXPIRES_IN, GraphDoubleThread
from tests.bot.meta.conftest import APP_ID, APP_SECRET, REDIRECT_URI

pytestmark = pytest.mark.usefixtures("meta_app")
IG_USER_ID = "17841400000000001"


def test_instagram_login_refreshes_a_long_lived_token(graph: GraphDoubleThread) -> None:
    graph.add_oauth_code("ig-code", ig_user_id=IG_USER_ID)
    settings = get_settings()
    login = InstagramLogin(
        settings.instagram_api_url, settings.instagram_graph_api_url, settings.graph_api_version
    )

    async def connect_then_refresh() -> tuple[str, str, int | None]:
        short = await login.exchange_code(APP_ID, APP_SECRET, REDIRECT_URI, "ig-code")
        token = (await login.long_lived(APP_SECRET, short["access_token"]))["access_token"]
        return (token, *await login.refresh(token))

    token, refreshed, lifetime = asyncio.run(connect_then_refresh())

    assert refreshed != token and lifetime == TOKEN_EXPIRES_IN
    assert graph.grant_of(refreshed)["ig_user_id"] == IG_USER_ID
    with pytest.raises(GraphError) as refused:
        asyncio.run(login.refresh("IGAAnever-issued"))
    assert (refused.value.code, refused.value.retryable) == (190, False)
    calls = graph.oauth_calls()
    assert [(c["endpoint"], c["status"]) for c in calls[-2:]] == [
        ("instagram/refresh_access_token", 200),
        ("instagram/refresh_access_token", 400),
    ]
