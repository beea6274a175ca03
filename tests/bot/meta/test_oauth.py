"""Connecting a shop to Meta, end to end: the connect link, opened in the owner's browser at the
start route (which sets our cookie and sends the browser on to Meta's dialog), then Meta's
redirect to the callback route on a Sanic app, the code exchanged at the Graph API double over
loopback HTTP (which plays graph.facebook.com for WhatsApp and api.instagram.com /
graph.instagram.com for Instagram Login), the token in the secrets layer (a tmp file), the
account linked in the real SQLite database and the connection in the audit trail. The whole
journey also runs over real HTTP, a cookie jar following every redirect.

Every refusal (replayed, forged, expired or moved state or link; another browser's callback;
declined dialog; an account of another shop) answers 400 and leaves tokens, links and the
double's token endpoints untouched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest
import sqlalchemy as sa
import time_machine
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.cli import main
from bot.meta import oauth
from bot.meta.graph import GraphClient
from bot.platform import db, signing
from bot.platform import secrets as secret_store
from bot.platform.models import AuditEvent, ChannelAccount, OAuthState, utcnow
from bot.platform.settings import get_settings
from bot.platform.signing import Purpose, key_for
from bot.shop import shops
from connectors.instagram import InstagramInput
from connectors.oauth import COOKIE, MetaConnectInput
from connectors.whatsapp import WhatsAppInput
from devtools.graph_double import TOKEN_EXPIRES_IN, GraphDoubleThread
from devtools.ports import free_port
from tests.bot.meta.conftest import APP_ID, APP_SECRET, REDIRECT_URI
from tests.helpers.meta import ig_event, instagram, signed, wa_text, whatsapp

CALLBACK = "/webhooks/connect/callback"
WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
IYA_PHONE_NUMBER_ID = "106540352242999"
IG_USER_ID = "17841400000000001"
IG_APP_ID = "990602627938098"
IG_APP_SECRET = "test-instagram-app-secret-41aa"


@pytest.fixture(autouse=True)
def oauth_env(meta_app: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Meta app (tests/bot/meta/conftest.py) with its redirect URI, and two shops."""
    monkeypatch.setenv("META_VERIFY_TOKEN", "test-verify-token")
    monkeypatch.setenv("META_OAUTH_REDIRECT_URI", REDIRECT_URI)
    get_settings.cache_clear()
    with db.session_scope() as session:
        shops.add_shop(session, "mama-put", "Mama Put Fabrics")
        shops.add_shop(session, "iya-basket", "Iya Basket", whatsapp_phone_id=IYA_PHONE_NUMBER_ID)


def connect_app() -> Sanic:
    """The connect channel's routes on a Sanic app of their own, as the Rasa server mounts them."""

    async def on_new_message(message: UserMessage) -> None:
        raise AssertionError("the connect channel never hands anything to Rasa")

    app = Sanic(f"test-connect-{uuid.uuid4().hex[:8]}")
    channel = MetaConnectInput.from_credentials(None)
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/connect")
    return app


@pytest.fixture
def app() -> Sanic:
    return connect_app()


def connect_link(shop_id: str = "mama-put", platform: str = "whatsapp") -> str:
    with db.session_scope() as session:
        return oauth.connect_link(session, shop_id, platform)


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def cookie_of(response: Any) -> SimpleCookie:
    """The cookies a response sets, with their attributes."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


@dataclass(frozen=True)
class Browser:
    """The owner's browser once it opened a connect link: sent on to Meta's dialog, and holding
    our cookie."""

    dialog: str
    cookie: str

    @property
    def state(self) -> str:
        return query_of(self.dialog)["state"]


async def open_link(app: Sanic, link: str) -> Any:
    _, response = await app.asgi_client.get(urlsplit(link).path, params=query_of(link))
    return response


async def opened(app: Sanic, shop_id: str = "mama-put", platform: str = "whatsapp") -> Browser:
    response = await open_link(app, connect_link(shop_id, platform))
    assert response.status == 302
    return Browser(response.headers["location"], cookie_of(response)[COOKIE].value)


async def call_back(app: Sanic, browser: Browser | None = None, **params: str) -> Any:
    """Meta's redirect back, in ``browser`` (its state unless another is given, and its cookie);
    without one, in a browser that has neither."""
    cookies = {}
    if browser is not None:
        params.setdefault("state", browser.state)
        cookies[COOKIE] = browser.cookie
    _, response = await app.asgi_client.get(CALLBACK, params=params, cookies=cookies)
    return response


def accounts() -> list[tuple[str, str, str]]:
    with db.session_scope() as session:
        rows = session.execute(sa.select(ChannelAccount).order_by(ChannelAccount.id)).scalars()
        return [(row.shop_id, row.channel, row.account_id) for row in rows]


def states() -> list[tuple[str, str, bool]]:
    with db.session_scope() as session:
        rows = session.execute(sa.select(OAuthState).order_by(OAuthState.created_at)).scalars()
        return [(row.shop_id, row.platform, row.used_at is not None) for row in rows]


def stored(secrets_file: Path) -> dict[str, Any]:
    return json.loads(secrets_file.read_text()) if secrets_file.exists() else {}


def text_of(response: Any) -> str:
    return " ".join(response.text.split())


def audited(action_prefix: str = "shop.") -> list[tuple[str, str, dict[str, Any]]]:
    with db.session_scope() as session:
        rows = session.execute(sa.select(AuditEvent).order_by(AuditEvent.id)).scalars()
        return [
            (row.shop_id, row.action, row.detail)
            for row in rows
            if row.action.startswith(action_prefix)
        ]


# The connect link, and opening it


def decoded(token: str, purpose: Purpose, audience: str) -> dict[str, Any]:
    assert jwt.get_unverified_header(token)["typ"] == purpose.typ
    key = key_for(purpose, secret_store.jwt_key())
    return jwt.decode(token, key, algorithms=["HS256"], audience=audience)


def test_the_link_opens_our_start_route_signed_for_its_shop() -> None:
    url = connect_link()

    assert url.startswith("https://trustguard.example/webhooks/connect/start?link=")
    assert list(query_of(url)) == ["link"]
    with db.session_scope() as session:
        [row] = session.execute(sa.select(OAuthState)).scalars()
    assert (row.shop_id, row.platform, row.used_at) == ("mama-put", "whatsapp", None)
    assert dt.timedelta(minutes=14) < row.expires_at - utcnow() <= dt.timedelta(minutes=15)
    claims = decoded(query_of(url)["link"], Purpose.CONNECT_LINK, "trustguard-connect-link")
    assert (claims["shop"], claims["platform"], claims["nonce"]) == (
        "mama-put",
        "whatsapp",
        row.nonce,
    )
    assert len(row.nonce) >= 32


async def test_opening_the_link_sets_our_cookie_and_sends_the_browser_to_metas_dialog(
    app: Sanic,
) -> None:
    response = await open_link(app, connect_link())

    assert response.status == 302
    url = response.headers["location"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://www.facebook.com/v26.0/dialog/oauth"
    )
    query = query_of(url)
    assert query == {
        "client_id": APP_ID,
        "redirect_uri": REDIRECT_URI,
        "state": query["state"],
        "scope": "whatsapp_business_management,whatsapp_business_messaging",
        "response_type": "code",
    }
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    cookie = cookie_of(response)[COOKIE]
    assert len(cookie.value) >= 43
    assert cookie["path"] == "/webhooks/connect"
    assert cookie["httponly"] is True and cookie["secure"] is True
    assert cookie["samesite"] == "Lax"
    assert 14 * 60 < int(cookie["max-age"]) <= 15 * 60
    claims = decoded(query["state"], Purpose.OAUTH_STATE, "trustguard-oauth")
    [(nonce,)] = states_with_nonces()
    assert (claims["shop"], claims["platform"], claims["nonce"]) == ("mama-put", "whatsapp", nonce)
    # The state carries the cookie's hash, never the cookie.
    assert claims["browser"] == hashlib.sha256(cookie.value.encode()).hexdigest()
    assert cookie.value not in query["state"] and cookie.value not in json.dumps(claims)


def states_with_nonces() -> list[tuple[str]]:
    with db.session_scope() as session:
        return [tuple(row) for row in session.execute(sa.select(OAuthState.nonce)).all()]


async def test_in_plain_http_development_the_cookie_is_not_https_only(
    app: Sanic, monkeypatch
) -> None:
    monkeypatch.setenv("META_OAUTH_REDIRECT_URI", "http://127.0.0.1:5005/webhooks/connect/callback")
    link = connect_link()
    assert link.startswith("http://127.0.0.1:5005/webhooks/connect/start?link=")

    cookie = cookie_of(await open_link(app, link))[COOKIE]

    assert cookie["secure"] == "" and cookie["httponly"] is True


async def test_each_opening_of_a_link_binds_a_browser_of_its_own(app: Sanic) -> None:
    link = connect_link()
    first, second = [await open_link(app, link) for _ in range(2)]

    cookies = [cookie_of(r)[COOKIE].value for r in (first, second)]
    bound = [
        decoded(query_of(r.headers["location"])["state"], Purpose.OAUTH_STATE, "trustguard-oauth")
        for r in (first, second)
    ]
    assert cookies[0] != cookies[1]
    assert bound[0]["browser"] != bound[1]["browser"] and bound[0]["nonce"] == bound[1]["nonce"]


def test_each_link_has_its_own_nonce() -> None:
    first, second = query_of(connect_link())["link"], query_of(connect_link())["link"]
    assert first != second
    assert len(states_with_nonces()) == 2


async def test_the_instagram_link_uses_instagram_login(app: Sanic) -> None:
    browser = await opened(app, platform="instagram")
    assert browser.dialog.startswith("https://www.instagram.com/oauth/authorize?")
    assert query_of(browser.dialog)["scope"] == (
        "instagram_business_basic,instagram_business_manage_messages"
    )


async def test_the_dialog_urls_can_be_pointed_elsewhere(app: Sanic, monkeypatch) -> None:
    monkeypatch.setenv("META_OAUTH_DIALOG_URL", "http://127.0.0.1:9/dialog")
    monkeypatch.setenv("INSTAGRAM_OAUTH_DIALOG_URL", "http://127.0.0.1:9/ig")
    assert (await opened(app)).dialog.startswith("http://127.0.0.1:9/dialog?client_id=")
    instagram = await opened(app, platform="instagram")
    assert instagram.dialog.startswith("http://127.0.0.1:9/ig?client_id=")


@pytest.mark.parametrize("missing", ["META_APP_ID", "META_OAUTH_REDIRECT_URI"])
def test_no_link_without_the_app_id_or_the_redirect_uri(monkeypatch, missing: str) -> None:
    monkeypatch.delenv(missing)
    with pytest.raises(oauth.OAuthError, match=missing):
        connect_link()
    assert states() == []


def test_no_link_for_an_unknown_platform_or_shop() -> None:
    with pytest.raises(oauth.OAuthError, match="platform"):
        connect_link(platform="telegram")
    with pytest.raises(oauth.OAuthError, match="no shop"):
        connect_link(shop_id="nobody")
    assert states() == []


def _forged_link() -> str:
    claims = jwt.decode(query_of(connect_link())["link"], options={"verify_signature": False})
    claims["shop"] = "iya-basket"
    forged = jwt.encode(claims, "an-attacker-key-0123456789abcdefghijkl", "HS256")
    return f"https://trustguard.example/webhooks/connect/start?link={forged}"


def _expired_link() -> str:
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16)):
        return connect_link()


def _a_state_as_link() -> str:
    """Signed by us, but as a state: a token of another purpose is no link."""
    claims = jwt.decode(query_of(connect_link())["link"], options={"verify_signature": False})
    token = signing.encode(claims, Purpose.OAUTH_STATE)
    return f"https://trustguard.example/webhooks/connect/start?link={token}"


@pytest.mark.parametrize(
    ("make_link", "says"),
    [
        (_forged_link, "not valid"),
        (_a_state_as_link, "not valid"),
        (_expired_link, "expired"),
        (lambda: "https://trustguard.example/webhooks/connect/start", "incomplete"),
        (lambda: "https://trustguard.example/webhooks/connect/start?link=garbage", "not valid"),
    ],
    ids=["forged", "state-as-link", "expired", "no-link", "garbage"],
)
async def test_a_link_that_is_not_ours_or_has_expired_sets_nothing(
    app: Sanic, make_link, says: str
) -> None:
    response = await open_link(app, make_link())

    assert response.status == 400
    assert says in text_of(response) and "connect-url" in text_of(response)
    assert "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "no-store"


async def test_a_used_link_is_refused_when_opened(app: Sanic, graph: GraphDoubleThread) -> None:
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    link = connect_link()
    response = await open_link(app, link)
    browser = Browser(response.headers["location"], cookie_of(response)[COOKIE].value)
    assert (await call_back(app, browser, code="code-1")).status == 200

    again = await open_link(app, link)

    assert again.status == 400
    assert "already been used" in text_of(again)
    assert "set-cookie" not in again.headers


def test_the_cli_prints_the_link_or_says_what_is_missing(
    restore_environ, monkeypatch, capsys
) -> None:
    assert main(["shop", "connect-url", "--shop", "mama-put", "--platform", "whatsapp"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("https://trustguard.example/webhooks/connect/start?link=")
    assert decoded(query_of(out)["link"], Purpose.CONNECT_LINK, "trustguard-connect-link")

    monkeypatch.delenv("META_APP_ID")
    assert main(["shop", "connect-url", "--shop", "mama-put", "--platform", "instagram"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "META_APP_ID" in err[0]


# The callback: connected


async def test_a_whatsapp_number_is_connected(
    app: Sanic, graph: GraphDoubleThread, secrets_file: Path
) -> None:
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    browser = await opened(app)

    response = await call_back(app, browser, code="code-1")

    assert response.status == 200
    assert (
        "Your WhatsApp number is connected to Mama Put Fabrics. You can close this page."
        in text_of(response)
    )
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    cleared = cookie_of(response)[COOKIE]
    assert (cleared.value, cleared["max-age"], cleared["path"]) == ("", "0", "/webhooks/connect")
    assert ("mama-put", "whatsapp", PHONE_NUMBER_ID) in accounts()
    assert states() == [("mama-put", "whatsapp", True)]

    token = secret_store.shop_token("mama-put", "whatsapp")
    assert graph.grant_of(token) == {
        "waba_id": WABA_ID,
        "phone_number_id": PHONE_NUMBER_ID,
        "ig_user_id": None,
        "long_lived": True,
    }
    entry = stored(secrets_file)["shops"]["mama-put"]["whatsapp"]
    assert entry["phone_number_id"] == PHONE_NUMBER_ID
    assert abs(entry["expires_at"] - (time.time() + TOKEN_EXPIRES_IN)) < 600

    calls = graph.oauth_calls()
    assert [(c["endpoint"], c.get("grant_type"), c["status"]) for c in calls] == [
        ("oauth/access_token", "authorization_code", 200),
        ("oauth/access_token", "fb_exchange_token", 200),
        ("debug_token", None, 200),
        ("phone_numbers", None, 200),
    ]
    assert {c["redirect_uri"] for c in calls[:1]} == {REDIRECT_URI}
    assert {c["client_id"] for c in calls[:2]} == {APP_ID}
    assert calls[3]["waba_id"] == WABA_ID
    recorded = json.dumps(calls)
    assert token not in recorded and "code-1" not in recorded and APP_SECRET not in recorded

    [(shop_id, action, detail)] = audited()
    assert (shop_id, action) == ("mama-put", "shop.connected")
    assert detail == {"platform": "whatsapp", "account": "***" + PHONE_NUMBER_ID[-4:]}
    assert token not in json.dumps(detail)


async def test_a_connected_shop_answers_its_buyers_with_its_own_token(
    app: Sanic, graph: GraphDoubleThread
) -> None:
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    assert (await call_back(app, await opened(app), code="code-1")).status == 200
    token = secret_store.shop_token("mama-put", "whatsapp")

    async def echo(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "welcome")

    channel = WhatsAppInput.from_credentials(None)
    webhooks = Sanic(f"test-wa-{uuid.uuid4().hex[:8]}")
    webhooks.blueprint(channel.blueprint(echo), url_prefix="/webhooks/whatsapp")
    body, headers = signed(whatsapp([wa_text("hi")]), secret=APP_SECRET)
    _, response = await webhooks.asgi_client.post(
        "/webhooks/whatsapp/webhook", content=body, headers=headers
    )
    assert response.status == 200

    deadline = time.monotonic() + 15
    while not graph.sent() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)  # the reply is sent in the background, on this loop
    [send] = graph.sent()
    assert send["account_id"] == PHONE_NUMBER_ID
    assert send["token"] == "…" + token[-4:]


async def test_an_instagram_account_is_connected(
    app: Sanic, graph: GraphDoubleThread, secrets_file: Path
) -> None:
    with db.session_scope() as session:
        shops.add_shop(session, "bola-sons", "Bola & Sons <Ankara>")
    graph.add_oauth_code("ig-code", ig_user_id=IG_USER_ID)

    response = await call_back(app, await opened(app, "bola-sons", "instagram"), code="ig-code")

    assert response.status == 200
    escaped = "Bola &amp; Sons &lt;Ankara&gt;"
    assert f"Your Instagram account is connected to {escaped}." in text_of(response)
    assert ("bola-sons", "instagram", IG_USER_ID) in accounts()
    token = secret_store.shop_token("bola-sons", "instagram")
    assert token.startswith("IGAA") and graph.grant_of(token)["long_lived"] is True
    entry = stored(secrets_file)["shops"]["bola-sons"]["instagram"]
    assert entry["account_id"] == IG_USER_ID
    assert abs(entry["expires_at"] - (time.time() + TOKEN_EXPIRES_IN)) < 600

    # Instagram Login, not Facebook Login: api.instagram.com, then graph.instagram.com.
    calls = graph.oauth_calls()
    assert [(c["endpoint"], c.get("grant_type"), c["status"]) for c in calls] == [
        ("instagram/oauth/access_token", "authorization_code", 200),
        ("instagram/access_token", "ig_exchange_token", 200),
        ("me", None, 200),
    ]
    assert calls[0]["content_type"] == "application/x-www-form-urlencoded"
    assert (calls[0]["client_id"], calls[0]["redirect_uri"]) == (APP_ID, REDIRECT_URI)
    assert (calls[2]["version"], calls[2]["fields"]) == ("v26.0", "user_id,username")
    recorded = json.dumps(calls)
    assert token not in recorded and "ig-code" not in recorded and APP_SECRET not in recorded


async def test_the_older_flat_instagram_answer_is_accepted_too(
    app: Sanic, graph: GraphDoubleThread
) -> None:
    graph.wrap_instagram_answers(False)
    graph.add_oauth_code("ig-code", ig_user_id=IG_USER_ID)

    response = await call_back(app, await opened(app, "mama-put", "instagram"), code="ig-code")

    assert response.status == 200
    assert ("mama-put", "instagram", IG_USER_ID) in accounts()


async def test_the_instagram_app_id_and_secret_are_used_when_they_differ(
    app: Sanic, graph: GraphDoubleThread, monkeypatch
) -> None:
    monkeypatch.setenv("INSTAGRAM_APP_ID", IG_APP_ID)
    monkeypatch.setenv("INSTAGRAM_APP_SECRET", IG_APP_SECRET)
    graph.set_instagram_app_secret(IG_APP_SECRET)
    graph.add_oauth_code("ig-code", ig_user_id=IG_USER_ID)
    browser = await opened(app, "mama-put", "instagram")
    assert query_of(browser.dialog)["client_id"] == IG_APP_ID
    # WhatsApp keeps the Meta app's.
    assert query_of((await opened(app)).dialog)["client_id"] == APP_ID

    response = await call_back(app, browser, code="ig-code")

    assert response.status == 200
    calls = graph.oauth_calls()
    assert [c["status"] for c in calls] == [200, 200, 200]
    assert calls[0]["client_id"] == IG_APP_ID
    assert IG_APP_SECRET not in json.dumps(calls)


async def test_without_its_own_secret_instagram_login_takes_the_meta_apps_and_is_refused(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    graph.set_instagram_app_secret(IG_APP_SECRET)  # the dashboard's, which we were not given
    graph.add_oauth_code("ig-code", ig_user_id=IG_USER_ID)

    response = await call_back(app, await opened(app, "mama-put", "instagram"), code="ig-code")

    assert response.status == 400
    assert "Meta did not accept" in text_of(response)
    untouched(calls_before=1)
    assert secret_store.shop_token("mama-put", "instagram") is None


async def test_an_instagram_code_meta_refuses_connects_nothing_and_spends_the_link(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    response = await call_back(app, await opened(app, "mama-put", "instagram"), code="never-issued")

    assert response.status == 400
    assert "Meta did not accept" in text_of(response)
    untouched(calls_before=1)
    assert graph.oauth_calls()[0]["endpoint"] == "instagram/oauth/access_token"
    assert states() == [("mama-put", "instagram", True)]
    assert secret_store.shop_token("mama-put", "instagram") is None


async def test_instagram_without_the_messaging_permission_is_explained(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    graph.add_oauth_code(
        "ig-code", ig_user_id=IG_USER_ID, ig_permissions="instagram_business_basic"
    )

    response = await call_back(app, await opened(app, "mama-put", "instagram"), code="ig-code")

    assert response.status == 400
    assert "messages" in text_of(response) and "connect-url" in text_of(response)
    untouched(calls_before=1)
    assert secret_store.shop_token("mama-put", "instagram") is None


async def test_a_connected_instagram_shop_answers_through_instagrams_graph_host(
    app: Sanic, graph: GraphDoubleThread, monkeypatch
) -> None:
    graph.add_oauth_code("ig-code", ig_user_id=IG_USER_ID)
    browser = await opened(app, "mama-put", "instagram")
    assert (await call_back(app, browser, code="ig-code")).status == 200
    token = secret_store.shop_token("mama-put", "instagram")

    async def echo(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "welcome")

    with GraphDoubleThread() as facebook:
        monkeypatch.setenv("GRAPH_API_URL", facebook.url)  # graph.facebook.com, elsewhere
        get_settings.cache_clear()
        channel = InstagramInput.from_credentials(None)
        webhooks = Sanic(f"test-ig-{uuid.uuid4().hex[:8]}")
        webhooks.blueprint(channel.blueprint(echo), url_prefix="/webhooks/instagram")
        body, headers = signed(instagram([ig_event({"text": "hi"})]), secret=APP_SECRET)
        _, response = await webhooks.asgi_client.post(
            "/webhooks/instagram/webhook", content=body, headers=headers
        )
        assert response.status == 200

        deadline = time.monotonic() + 15
        while not graph.sent() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert facebook.sent() == []
    [send] = graph.sent()
    assert (send["account_id"], send["version"]) == (IG_USER_ID, "v26.0")
    assert send["token"] == "…" + token[-4:]
    assert send["body"]["message"] == {"text": "welcome"}


async def test_reconnecting_the_same_number_replaces_the_token(
    app: Sanic, graph: GraphDoubleThread
) -> None:
    for code in ("code-1", "code-2"):
        graph.add_oauth_code(code, waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    await call_back(app, await opened(app), code="code-1")
    first = secret_store.shop_token("mama-put", "whatsapp")

    response = await call_back(app, await opened(app), code="code-2")

    assert response.status == 200
    assert secret_store.shop_token("mama-put", "whatsapp") not in (None, first)
    assert accounts().count(("mama-put", "whatsapp", PHONE_NUMBER_ID)) == 1


# The callback: refused, and nothing changes


@pytest.fixture
def untouched(graph: GraphDoubleThread, secrets_file: Path):
    """Asserts, after the test's refusals, that no token, link or token exchange happened."""
    before = (accounts(), stored(secrets_file))

    def check(calls_before: int = 0) -> None:
        assert (accounts(), stored(secrets_file)) == before
        assert len(graph.oauth_calls()) == calls_before
        assert secret_store.shop_token("mama-put", "whatsapp") is None

    return check


async def test_a_replayed_state_is_refused(
    app: Sanic, graph: GraphDoubleThread, secrets_file: Path
) -> None:
    for code in ("code-1", "code-2"):
        graph.add_oauth_code(code, waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    browser = await opened(app)
    assert (await call_back(app, browser, code="code-1")).status == 200
    after = (accounts(), stored(secrets_file), graph.oauth_calls())

    for code in ("code-1", "code-2"):
        response = await call_back(app, browser, code=code)
        assert response.status == 400
        assert "already been used" in text_of(response)
        assert "connect-url" in text_of(response)

    assert (accounts(), stored(secrets_file), graph.oauth_calls()) == after


async def test_two_callbacks_racing_with_one_state_connect_once(graph: GraphDoubleThread) -> None:
    # Raced at oauth.complete: Sanic's test client runs the server's shutdown listeners after
    # each request, which would close the shared Graph session under the other request.
    for code in ("code-1", "code-2"):
        graph.add_oauth_code(code, waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    dialog = oauth.open_link(query_of(connect_link())["link"])
    state = query_of(dialog.url)["state"]
    client = GraphClient(graph.url, "v26.0")

    try:
        outcomes = await asyncio.gather(
            oauth.complete(state, "code-1", client, dialog.browser_nonce),
            oauth.complete(state, "code-2", client, dialog.browser_nonce),
            return_exceptions=True,
        )
    finally:
        await client.close()

    connected = [o for o in outcomes if isinstance(o, oauth.ConnectedAccount)]
    refused = [o for o in outcomes if isinstance(o, oauth.OAuthError)]
    assert connected == [oauth.ConnectedAccount("mama-put", "whatsapp", PHONE_NUMBER_ID)]
    assert len(refused) == 1 and "already been used" in str(refused[0])
    assert len([c for c in graph.oauth_calls() if c.get("grant_type") == "authorization_code"]) == 1


async def test_a_callback_without_our_cookie_is_refused_and_the_link_still_works(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    browser = await opened(app)

    response = await call_back(app, None, code="code-1", state=browser.state)

    assert response.status == 400
    page = text_of(response)
    assert "another browser" in page and "open the connect link again" in page
    untouched()
    assert states() == [("mama-put", "whatsapp", False)]
    assert (await call_back(app, browser, code="code-1")).status == 200


async def test_a_callback_with_another_browsers_cookie_is_refused(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    """An attacker's own state, planted in the owner's browser (which holds a cookie of its own),
    connects nothing: login CSRF. A second opening of the same link outdates the first tab too."""
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=IYA_PHONE_NUMBER_ID)
    attackers, owners = await opened(app), await opened(app)
    link = connect_link()
    first_tab, second_tab = [await open_link(app, link) for _ in range(2)]
    outdated = Browser(first_tab.headers["location"], cookie_of(second_tab)[COOKIE].value)

    for planted in (Browser(attackers.dialog, owners.cookie), outdated):
        response = await call_back(app, planted, code="code-1")
        assert response.status == 400
        assert "another browser" in text_of(response)
    untouched()
    assert [used for _, _, used in states()] == [False, False, False]


async def test_a_replay_from_another_browser_is_refused_as_used(
    app: Sanic, graph: GraphDoubleThread, secrets_file: Path
) -> None:
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    browser = await opened(app)
    assert (await call_back(app, browser, code="code-1")).status == 200
    after = (accounts(), stored(secrets_file), graph.oauth_calls())

    response = await call_back(app, None, code="code-1", state=browser.state)

    assert response.status == 400
    assert "already been used" in text_of(response)
    assert (accounts(), stored(secrets_file), graph.oauth_calls()) == after


@asynccontextmanager
async def serving(app: Sanic, port: int) -> AsyncIterator[None]:
    """The Sanic app as a real HTTP server on loopback."""
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    await server.after_start()
    try:
        yield
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


@pytest.mark.parametrize(
    ("platform", "dialog", "owner_shares", "connected"),
    [
        (
            "whatsapp",
            "/v21.0/dialog/oauth",
            {"waba_id": WABA_ID, "phone_number_id": PHONE_NUMBER_ID},
            PHONE_NUMBER_ID,
        ),
        ("instagram", "/oauth/authorize", {"ig_user_id": IG_USER_ID}, IG_USER_ID),
    ],
)
async def test_the_whole_journey_in_one_browser_over_http(
    graph: GraphDoubleThread,
    monkeypatch,
    platform: str,
    dialog: str,
    owner_shares: dict[str, str],
    connected: str,
) -> None:
    """The owner's browser (aiohttp with a cookie jar) opens the printed link and follows every
    redirect: our start route, Meta's dialog (the double's), our callback."""
    port = free_port()
    monkeypatch.setenv("META_OAUTH_REDIRECT_URI", f"http://127.0.0.1:{port}{CALLBACK}")
    monkeypatch.setenv("META_OAUTH_DIALOG_URL", f"{graph.url}/v21.0/dialog/oauth")
    monkeypatch.setenv("INSTAGRAM_OAUTH_DIALOG_URL", f"{graph.url}/oauth/authorize")
    graph.authorize_next(**owner_shares)
    link = connect_link("mama-put", platform)

    async with (
        serving(connect_app(), port),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as owner,
    ):
        async with owner.get(link) as page:
            text = " ".join((await page.text()).split())
            hops = [*(hop.url for hop in page.history), page.url]
            left_behind = [c.value for c in owner.cookie_jar if c.key == COOKIE]
        async with owner.get(page.url) as reloaded:
            reload_text = await reloaded.text()
        async with aiohttp.ClientSession() as stranger, stranger.get(page.url) as planted:
            planted_status = planted.status

    assert page.status == 200, text
    assert "is connected to Mama Put Fabrics" in text
    assert [hop.path for hop in hops] == ["/webhooks/connect/start", dialog, CALLBACK]
    assert ("mama-put", platform, connected) in accounts()
    assert left_behind == []
    assert "already been used" in reload_text
    assert planted_status == 400
    visit = graph.oauth_calls()[0]
    assert (visit["redirect_uri"], visit["status"]) == (os.environ["META_OAUTH_REDIRECT_URI"], 302)


def _tamper_signature(state: str) -> str:
    header, payload, signature = state.split(".")
    return ".".join([header, payload, ("A" if signature[0] != "A" else "B") + signature[1:]])


def _move_to_another_shop(state: str) -> str:
    header, payload, signature = state.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["shop"] = "iya-basket"
    moved = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return ".".join([header, moved, signature])


def _signed_with_another_key(state: str) -> str:
    claims = jwt.decode(state, options={"verify_signature": False})
    return jwt.encode(claims, "an-attacker-key-0123456789abcdefghijkl", "HS256")


@pytest.mark.parametrize(
    "forge",
    [_tamper_signature, _move_to_another_shop, _signed_with_another_key, lambda s: "garbage"],
    ids=["tampered-signature", "another-shop", "another-key", "garbage"],
)
async def test_a_forged_state_is_refused(app: Sanic, graph: GraphDoubleThread, untouched, forge):
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=IYA_PHONE_NUMBER_ID)
    browser = await opened(app)

    response = await call_back(app, browser, code="code-1", state=forge(browser.state))

    assert response.status == 400
    assert "not valid" in text_of(response) and "connect-url" in text_of(response)
    untouched()
    assert states() == [("mama-put", "whatsapp", False)]


async def test_an_expired_state_is_refused(app: Sanic, graph: GraphDoubleThread, untouched):
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16)):
        browser = await opened(app)

    response = await call_back(app, browser, code="code-1")

    assert response.status == 400
    assert "expired" in text_of(response)
    untouched()


@pytest.mark.parametrize(
    "forge",
    [_tamper_signature, _move_to_another_shop, _signed_with_another_key, lambda s: "garbage"],
    ids=["tampered-signature", "another-shop", "another-key", "garbage"],
)
async def test_a_forged_instagram_state_is_refused(
    app: Sanic, graph: GraphDoubleThread, untouched, forge
) -> None:
    graph.add_oauth_code("ig-code", ig_user_id=IG_USER_ID)
    browser = await opened(app, "mama-put", "instagram")

    response = await call_back(app, browser, code="ig-code", state=forge(browser.state))

    assert response.status == 400
    assert "not valid" in text_of(response)
    untouched()
    assert states() == [("mama-put", "instagram", False)]
    assert secret_store.shop_token("mama-put", "instagram") is None
    assert audited() == []


async def test_an_expired_instagram_state_is_refused(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    graph.add_oauth_code("ig-code", ig_user_id=IG_USER_ID)
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16)):
        browser = await opened(app, "mama-put", "instagram")

    response = await call_back(app, browser, code="ig-code")

    assert response.status == 400
    assert "expired" in text_of(response)
    untouched()
    assert secret_store.shop_token("mama-put", "instagram") is None


async def test_a_replayed_instagram_state_is_refused(
    app: Sanic, graph: GraphDoubleThread, secrets_file: Path
) -> None:
    for code in ("ig-code-1", "ig-code-2"):
        graph.add_oauth_code(code, ig_user_id=IG_USER_ID)
    browser = await opened(app, "mama-put", "instagram")
    assert (await call_back(app, browser, code="ig-code-1")).status == 200
    after = (accounts(), stored(secrets_file), graph.oauth_calls(), audited())

    for code in ("ig-code-1", "ig-code-2"):
        response = await call_back(app, browser, code=code)
        assert response.status == 400
        assert "already been used" in text_of(response)

    assert (accounts(), stored(secrets_file), graph.oauth_calls(), audited()) == after


async def test_a_declined_authorisation_is_explained(app: Sanic, untouched) -> None:
    response = await call_back(
        app,
        error="access_denied",
        error_code="200",
        error_description="Permissions error",
        error_reason="user_denied",
        state=(await opened(app)).state,
    )

    assert response.status == 400
    assert "did not allow" in text_of(response) and "connect-url" in text_of(response)
    untouched()


@pytest.mark.parametrize("params", [{"code": "code-1"}, {"state": "x"}, {}])
async def test_an_incomplete_callback_is_refused(app: Sanic, untouched, params) -> None:
    response = await call_back(app, **params)
    assert response.status == 400
    untouched()


async def test_an_account_of_another_shop_is_not_taken(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=IYA_PHONE_NUMBER_ID)

    response = await call_back(app, await opened(app), code="code-1")

    assert response.status == 400
    assert "already connected to another shop" in text_of(response)
    untouched(calls_before=4)
    assert ("iya-basket", "whatsapp", IYA_PHONE_NUMBER_ID) in accounts()
    [(shop_id, action, detail)] = audited()
    assert (shop_id, action) == ("mama-put", "shop.connect_refused")
    assert detail == {
        "platform": "whatsapp",
        "account": "***" + IYA_PHONE_NUMBER_ID[-4:],
        "reason": "account of another shop",
    }


async def test_an_instagram_account_of_another_shop_is_not_taken(
    app: Sanic, graph: GraphDoubleThread, secrets_file: Path
) -> None:
    with db.session_scope() as session:
        shops.add_shop(session, "bola-sons", "Bola & Sons", instagram_account_id=IG_USER_ID)
    before = accounts()
    graph.add_oauth_code("ig-code", ig_user_id=IG_USER_ID)

    response = await call_back(app, await opened(app, "mama-put", "instagram"), code="ig-code")

    assert response.status == 400
    assert "Instagram account is already connected to another shop" in text_of(response)
    assert accounts() == before and stored(secrets_file) == {}
    assert secret_store.shop_token("mama-put", "instagram") is None
    assert [(shop, action) for shop, action, _ in audited()] == [
        ("mama-put", "shop.connect_refused")
    ]


async def test_a_code_meta_refuses_connects_nothing_and_spends_the_link(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    response = await call_back(app, await opened(app), code="never-issued")

    assert response.status == 400
    assert "Meta did not accept" in text_of(response)
    untouched(calls_before=1)
    assert states() == [("mama-put", "whatsapp", True)]


async def test_a_wrong_app_secret_connects_nothing(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    graph.set_app_secret("the-real-secret-is-elsewhere")
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)

    response = await call_back(app, await opened(app), code="code-1")

    assert response.status == 400
    untouched(calls_before=1)
    assert graph.oauth_calls()[0]["status"] == 400


async def test_a_whatsapp_account_without_a_number_is_explained(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    graph.add_oauth_code("code-1", waba_id=WABA_ID)
    response = await call_back(app, await opened(app), code="code-1")
    assert response.status == 400
    assert "no phone number" in text_of(response)
    untouched(calls_before=4)


# Logs


async def test_no_log_line_carries_the_link_the_cookie_the_code_the_state_or_a_token(
    app: Sanic, graph: GraphDoubleThread, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    graph.add_oauth_code("code-secret-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    link = query_of(connect_link())["link"]
    response = await open_link(app, f"/webhooks/connect/start?link={link}")
    browser = Browser(response.headers["location"], cookie_of(response)[COOKIE].value)

    assert (await call_back(app, browser, code="code-secret-1")).status == 200
    assert (await call_back(app, browser, code="code-secret-1")).status == 400
    assert (await call_back(app, None, code="code-secret-1", state=browser.state)).status == 400

    token = secret_store.shop_token("mama-put", "whatsapp")
    # The test's own HTTP client logs the URL it requests; the server must not.
    ours = [r for r in caplog.records if not r.name.startswith("httpx")]
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in ours)
    assert "shop connected to meta" in logged
    state = browser.state
    secrets = ("code-secret-1", state, state.split(".")[2], link, link.split(".")[2])
    for secret in (*secrets, browser.cookie, token, APP_SECRET):
        assert secret not in logged
