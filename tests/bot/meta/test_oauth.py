"""Connecting a shop to Meta, end to end: the connect link, then Meta's redirect to the callback
route on a Sanic app, the code exchanged at the Graph API double over loopback HTTP (which plays
graph.facebook.com for WhatsApp and api.instagram.com / graph.instagram.com for Instagram Login),
the token in the secrets layer (a tmp file), the account linked in the real SQLite database and
the connection in the audit trail.

Every refusal (replayed, forged, expired or moved state; declined dialog; an account of another
shop) answers 400 and leaves tokens, links and the double's token endpoints untouched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import sqlalchemy as sa
import time_machine
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.cli import main
from bot.meta import oauth
from bot.meta.graph import GraphClient
from bot.platform import db
from bot.platform import secrets as secret_store
from bot.platform.models import AuditEvent, ChannelAccount, OAuthState, utcnow
from bot.platform.settings import get_settings
from bot.platform.signing import Purpose, key_for
from bot.shop import shops
from connectors.instagram import InstagramInput
from connectors.oauth import MetaConnectInput
from connectors.whatsapp import WhatsAppInput
from devtools.graph_double import TOKEN_EXPIRES_IN, GraphDoubleThread
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


@pytest.fixture
def app() -> Sanic:
    async def on_new_message(message: UserMessage) -> None:
        raise AssertionError("the connect channel never hands anything to Rasa")

    app = Sanic(f"test-connect-{uuid.uuid4().hex[:8]}")
    channel = MetaConnectInput.from_credentials(None)
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/connect")
    return app


def connect_link(shop_id: str = "mama-put", platform: str = "whatsapp") -> str:
    with db.session_scope() as session:
        return oauth.authorization_url(session, shop_id, platform)


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def state_of(url: str) -> str:
    return query_of(url)["state"]


async def call_back(app: Sanic, **params: str) -> Any:
    _, response = await app.asgi_client.get(CALLBACK, params=params)
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


# The connect link


def test_the_whatsapp_link_asks_meta_for_the_right_things() -> None:
    url = connect_link()

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
    with db.session_scope() as session:
        [row] = session.execute(sa.select(OAuthState)).scalars()
    assert (row.shop_id, row.platform, row.used_at) == ("mama-put", "whatsapp", None)
    assert dt.timedelta(minutes=14) < row.expires_at - utcnow() <= dt.timedelta(minutes=15)
    state_key = key_for(Purpose.OAUTH_STATE, secret_store.jwt_key())
    claims = jwt.decode(
        query["state"], state_key, algorithms=["HS256"], audience="trustguard-oauth"
    )
    assert jwt.get_unverified_header(query["state"])["typ"] == Purpose.OAUTH_STATE.typ
    assert (claims["shop"], claims["platform"], claims["nonce"]) == (
        "mama-put",
        "whatsapp",
        row.nonce,
    )
    assert len(row.nonce) >= 32


def test_each_link_has_its_own_nonce() -> None:
    first, second = state_of(connect_link()), state_of(connect_link())
    assert first != second
    with db.session_scope() as session:
        assert len(session.execute(sa.select(OAuthState.nonce)).all()) == 2


def test_the_instagram_link_uses_instagram_login() -> None:
    url = connect_link(platform="instagram")
    assert url.startswith("https://www.instagram.com/oauth/authorize?")
    assert query_of(url)["scope"] == "instagram_business_basic,instagram_business_manage_messages"


def test_the_dialog_urls_can_be_pointed_elsewhere(monkeypatch) -> None:
    monkeypatch.setenv("META_OAUTH_DIALOG_URL", "http://127.0.0.1:9/dialog")
    monkeypatch.setenv("INSTAGRAM_OAUTH_DIALOG_URL", "http://127.0.0.1:9/ig")
    assert connect_link().startswith("http://127.0.0.1:9/dialog?client_id=")
    assert connect_link(platform="instagram").startswith("http://127.0.0.1:9/ig?client_id=")


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


def test_the_cli_prints_the_link_or_says_what_is_missing(
    restore_environ, monkeypatch, capsys
) -> None:
    assert main(["shop", "connect-url", "--shop", "mama-put", "--platform", "whatsapp"]) == 0
    out = capsys.readouterr().out.strip()
    assert query_of(out)["client_id"] == APP_ID

    monkeypatch.delenv("META_APP_ID")
    assert main(["shop", "connect-url", "--shop", "mama-put", "--platform", "instagram"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "META_APP_ID" in err[0]


# The callback: connected


async def test_a_whatsapp_number_is_connected(
    app: Sanic, graph: GraphDoubleThread, secrets_file: Path
) -> None:
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    state = state_of(connect_link())

    response = await call_back(app, code="code-1", state=state)

    assert response.status == 200
    assert (
        "Your WhatsApp number is connected to Mama Put Fabrics. You can close this page."
        in text_of(response)
    )
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
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
    assert (await call_back(app, code="code-1", state=state_of(connect_link()))).status == 200
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

    response = await call_back(
        app, code="ig-code", state=state_of(connect_link("bola-sons", "instagram"))
    )

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

    response = await call_back(
        app, code="ig-code", state=state_of(connect_link("mama-put", "instagram"))
    )

    assert response.status == 200
    assert ("mama-put", "instagram", IG_USER_ID) in accounts()


async def test_the_instagram_app_id_and_secret_are_used_when_they_differ(
    app: Sanic, graph: GraphDoubleThread, monkeypatch
) -> None:
    monkeypatch.setenv("INSTAGRAM_APP_ID", IG_APP_ID)
    monkeypatch.setenv("INSTAGRAM_APP_SECRET", IG_APP_SECRET)
    graph.set_instagram_app_secret(IG_APP_SECRET)
    graph.add_oauth_code("ig-code", ig_user_id=IG_USER_ID)
    link = connect_link("mama-put", "instagram")
    assert query_of(link)["client_id"] == IG_APP_ID
    assert query_of(connect_link())["client_id"] == APP_ID  # WhatsApp keeps the Meta app's

    response = await call_back(app, code="ig-code", state=state_of(link))

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

    response = await call_back(
        app, code="ig-code", state=state_of(connect_link("mama-put", "instagram"))
    )

    assert response.status == 400
    assert "Meta did not accept" in text_of(response)
    untouched(calls_before=1)
    assert secret_store.shop_token("mama-put", "instagram") is None


async def test_an_instagram_code_meta_refuses_connects_nothing_and_spends_the_link(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    response = await call_back(
        app, code="never-issued", state=state_of(connect_link("mama-put", "instagram"))
    )

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

    response = await call_back(
        app, code="ig-code", state=state_of(connect_link("mama-put", "instagram"))
    )

    assert response.status == 400
    assert "messages" in text_of(response) and "connect-url" in text_of(response)
    untouched(calls_before=1)
    assert secret_store.shop_token("mama-put", "instagram") is None


async def test_a_connected_instagram_shop_answers_through_instagrams_graph_host(
    app: Sanic, graph: GraphDoubleThread, monkeypatch
) -> None:
    graph.add_oauth_code("ig-code", ig_user_id=IG_USER_ID)
    link = connect_link("mama-put", "instagram")
    assert (await call_back(app, code="ig-code", state=state_of(link))).status == 200
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
    await call_back(app, code="code-1", state=state_of(connect_link()))
    first = secret_store.shop_token("mama-put", "whatsapp")

    response = await call_back(app, code="code-2", state=state_of(connect_link()))

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
    state = state_of(connect_link())
    assert (await call_back(app, code="code-1", state=state)).status == 200
    after = (accounts(), stored(secrets_file), graph.oauth_calls())

    for code in ("code-1", "code-2"):
        response = await call_back(app, code=code, state=state)
        assert response.status == 400
        assert "already been used" in text_of(response)
        assert "connect-url" in text_of(response)

    assert (accounts(), stored(secrets_file), graph.oauth_calls()) == after


async def test_two_callbacks_racing_with_one_state_connect_once(graph: GraphDoubleThread) -> None:
    # Raced at oauth.complete: Sanic's test client runs the server's shutdown listeners after
    # each request, which would close the shared Graph session under the other request.
    for code in ("code-1", "code-2"):
        graph.add_oauth_code(code, waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    state = state_of(connect_link())
    client = GraphClient(graph.url, "v26.0")

    try:
        outcomes = await asyncio.gather(
            oauth.complete(state, "code-1", client),
            oauth.complete(state, "code-2", client),
            return_exceptions=True,
        )
    finally:
        await client.close()

    connected = [o for o in outcomes if isinstance(o, oauth.ConnectedAccount)]
    refused = [o for o in outcomes if isinstance(o, oauth.OAuthError)]
    assert connected == [oauth.ConnectedAccount("mama-put", "whatsapp", PHONE_NUMBER_ID)]
    assert len(refused) == 1 and "already been used" in str(refused[0])
    assert len([c for c in graph.oauth_calls() if c.get("grant_type") == "authorization_code"]) == 1


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
    state = state_of(connect_link())

    response = await call_back(app, code="code-1", state=forge(state))

    assert response.status == 400
    assert "not valid" in text_of(response) and "connect-url" in text_of(response)
    untouched()
    assert states() == [("mama-put", "whatsapp", False)]


async def test_an_expired_state_is_refused(app: Sanic, graph: GraphDoubleThread, untouched):
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16)):
        state = state_of(connect_link())

    response = await call_back(app, code="code-1", state=state)

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
    state = state_of(connect_link("mama-put", "instagram"))

    response = await call_back(app, code="ig-code", state=forge(state))

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
        link = connect_link("mama-put", "instagram")

    response = await call_back(app, code="ig-code", state=state_of(link))

    assert response.status == 400
    assert "expired" in text_of(response)
    untouched()
    assert secret_store.shop_token("mama-put", "instagram") is None


async def test_a_replayed_instagram_state_is_refused(
    app: Sanic, graph: GraphDoubleThread, secrets_file: Path
) -> None:
    for code in ("ig-code-1", "ig-code-2"):
        graph.add_oauth_code(code, ig_user_id=IG_USER_ID)
    state = state_of(connect_link("mama-put", "instagram"))
    assert (await call_back(app, code="ig-code-1", state=state)).status == 200
    after = (accounts(), stored(secrets_file), graph.oauth_calls(), audited())

    for code in ("ig-code-1", "ig-code-2"):
        response = await call_back(app, code=code, state=state)
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
        state=state_of(connect_link()),
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

    response = await call_back(app, code="code-1", state=state_of(connect_link()))

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

    response = await call_back(
        app, code="ig-code", state=state_of(connect_link("mama-put", "instagram"))
    )

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
    response = await call_back(app, code="never-issued", state=state_of(connect_link()))

    assert response.status == 400
    assert "Meta did not accept" in text_of(response)
    untouched(calls_before=1)
    assert states() == [("mama-put", "whatsapp", True)]


async def test_a_wrong_app_secret_connects_nothing(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    graph.set_app_secret("the-real-secret-is-elsewhere")
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)

    response = await call_back(app, code="code-1", state=state_of(connect_link()))

    assert response.status == 400
    untouched(calls_before=1)
    assert graph.oauth_calls()[0]["status"] == 400


async def test_a_whatsapp_account_without_a_number_is_explained(
    app: Sanic, graph: GraphDoubleThread, untouched
) -> None:
    graph.add_oauth_code("code-1", waba_id=WABA_ID)
    response = await call_back(app, code="code-1", state=state_of(connect_link()))
    assert response.status == 400
    assert "no phone number" in text_of(response)
    untouched(calls_before=4)


# Logs


async def test_no_log_line_carries_the_code_the_state_or_a_token(
    app: Sanic, graph: GraphDoubleThread, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    graph.add_oauth_code("code-secret-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    state = state_of(connect_link())

    assert (await call_back(app, code="code-secret-1", state=state)).status == 200
    assert (await call_back(app, code="code-secret-1", state=state)).status == 400

    token = secret_store.shop_token("mama-put", "whatsapp")
    # The test's own HTTP client logs the URL it requests; the server must not.
    ours = [r for r in caplog.records if not r.name.startswith("httpx")]
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in ours)
    assert "shop connected to meta" in logged
    for secret in ("code-secret-1", state, state.split(".")[2], token, APP_SECRET):
        assert secret not in logged
