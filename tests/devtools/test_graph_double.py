"""The Graph API double over real HTTP on 127.0.0.1, and the WhatsApp chat tool's pieces."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import requests

from bot.meta.signature import signature_header
from bot.meta.webhooks import parse_whatsapp
from devtools.graph_double import GraphDouble, GraphDoubleThread, describe, is_bsuid, send_line
from devtools.whatsapp_chat import (
    CONTACT_REQUEST,
    Buyer,
    ChatConfig,
    Choice,
    chat,
    default_user_id,
    main,
    pick,
    render_reply,
    sign,
    whatsapp_button_webhook,
    whatsapp_shared_number_webhook,
    whatsapp_text_webhook,
)

PHONE_NUMBER_ID = "100000001"
WA_ID = "2348012345678"
BSUID = "NG.8462019375510"
IG_ACCOUNT = "17841400000000001"
IGSID = "6543210987654321"
TOKEN = "EAAGshoptoken1234abcd"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "test-app-secret-0123456789"
ADA = Buyer(name="Ada", user_id=BSUID, wa_id=WA_ID)
ADA_BUYS = Buyer(name="Ada", user_id=BSUID, wa_id=None, username="ada_buys")  # no number shown
WHO = {"phone_number_id": PHONE_NUMBER_ID, "buyer": ADA}


@pytest.fixture
def graph() -> Iterator[GraphDoubleThread]:
    with GraphDoubleThread() as double:
        yield double


def whatsapp_text(to: str = WA_ID, text: str = "Your code is ready") -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": text}}


def whatsapp_text_to_user(user_id: str = BSUID, text: str = "Hello") -> dict[str, Any]:
    """A text sent by business-scoped user id, as to a buyer who shows no number."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": user_id,
        "type": "text",
        "text": {"body": text},
    }


def authentication_template(button: str = "url", **address: str) -> dict[str, Any]:
    """A one-time code template, the code in its body and in a URL or copy-code button."""
    code = [{"type": "text", "text": "K7#M@P2Q"}]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **address,
        "type": "template",
        "template": {
            "name": "trustguard_code",
            "language": {"code": "en"},
            "components": [
                {"type": "body", "parameters": code},
                {"type": "button", "sub_type": button, "index": "0", "parameters": code},
            ],
        },
    }


def instagram_text(recipient: str = IGSID, text: str = "hi") -> dict[str, Any]:
    return {"recipient": {"id": recipient}, "message": {"text": text}}


def send(
    graph: GraphDoubleThread,
    body: dict[str, Any],
    account: str = PHONE_NUMBER_ID,
    headers: dict[str, str] = AUTH,
    version: str = "v21.0",
) -> requests.Response:
    url = f"{graph.url}/{version}/{account}/messages"
    return requests.post(url, json=body, headers=headers, timeout=5)


def assert_meta_error(response: requests.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["fbtrace_id"]
    return error


# Sends


def test_whatsapp_send_is_answered_like_meta_and_recorded(graph: GraphDoubleThread) -> None:
    response = send(graph, whatsapp_text())

    assert response.status_code == 200
    answer = response.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": WA_ID, "wa_id": WA_ID}]
    [message] = answer["messages"]
    assert message["id"].startswith("wamid.") and len(message["id"]) > len("wamid.")
    [record] = graph.sent()
    assert record["account_id"] == PHONE_NUMBER_ID
    assert record["version"] == "v21.0"
    assert record["token"] == "…abcd"
    assert TOKEN not in json.dumps(record, ensure_ascii=False)
    assert record["body"] == whatsapp_text()
    assert record["id"] == message["id"]
    assert record["error"] is None
    assert record["delivered"] is True
    assert dt.datetime.fromisoformat(record["received_at"]).tzinfo is not None


def test_a_send_by_user_id_is_answered_like_meta_and_listed_under_it(
    graph: GraphDoubleThread,
) -> None:
    response = send(graph, whatsapp_text_to_user())

    assert response.status_code == 200
    answer = response.json()
    assert answer["contacts"] == [{"input": BSUID, "user_id": BSUID}]
    [message] = answer["messages"]
    assert message["id"].startswith("wamid.")
    [record] = graph.sent()
    assert (record["id"], record["error"], record["delivered"]) == (message["id"], None, True)
    assert [r["id"] for r in listed(graph, to=BSUID)] == [message["id"]]
    assert listed(graph, to=WA_ID) == []


def test_a_user_id_in_to_is_accepted_like_meta_and_delivered_to_no_one(
    graph: GraphDoubleThread,
) -> None:
    misaddressed = whatsapp_text(to=BSUID)
    both = {**whatsapp_text_to_user(), "to": BSUID}  # to wins over recipient, as at Meta

    responses = [send(graph, misaddressed), send(graph, both)]

    assert [response.status_code for response in responses] == [200, 200]
    assert all(r.json()["messages"][0]["id"].startswith("wamid.") for r in responses)
    records = graph.sent()
    assert [(r["status"], r["delivered"]) for r in records] == [(200, False), (200, False)]
    assert listed(graph, to=BSUID) == []
    line = send_line(records[0])
    assert "-> ***5510 NOT DELIVERED" in line and BSUID not in line


def test_to_wins_over_recipient(graph: GraphDoubleThread) -> None:
    answer = send(graph, {**whatsapp_text_to_user(), "to": WA_ID}).json()

    assert answer["contacts"] == [{"input": WA_ID, "wa_id": WA_ID}]
    assert len(listed(graph, to=WA_ID)) == 1
    assert listed(graph, to=BSUID) == []


@pytest.mark.parametrize("button", ["url", "copy_code"])
def test_an_authentication_template_to_a_user_id_is_refused_like_meta(
    graph: GraphDoubleThread, button: str
) -> None:
    graph.fail_next(130429, 429)

    refused = send(graph, authentication_template(button, recipient=BSUID))
    to_the_number = send(graph, authentication_template(button, to=WA_ID))

    error = assert_meta_error(refused, 400, 131062)
    assert "Business-scoped user ID (BSUID) recipients are not supported" in error["message"]
    failed, _ = graph.sent()
    assert (failed["id"], failed["status"], failed["delivered"]) == (None, 400, False)
    assert failed["error"]["code"] == 131062
    assert [r["status"] for r in listed(graph, to=BSUID)] == [400]  # the chat shows why
    # The refusal left the queued failure for the next send, which was to the number.
    assert_meta_error(to_the_number, 429, 130429)
    assert send(graph, authentication_template(button, to=WA_ID)).status_code == 200


def test_other_templates_go_to_a_user_id(graph: GraphDoubleThread) -> None:
    body = authentication_template(recipient=BSUID)
    body["template"]["components"][1] = {"type": "button", "sub_type": "quick_reply"}

    assert send(graph, body).status_code == 200
    assert graph.sent()[0]["delivered"] is True


def test_every_send_gets_its_own_id(graph: GraphDoubleThread) -> None:
    ids = {send(graph, whatsapp_text()).json()["messages"][0]["id"] for _ in range(3)}
    assert len(ids) == 3


def test_instagram_send_is_answered_like_meta_and_recorded(graph: GraphDoubleThread) -> None:
    response = send(graph, instagram_text(), account=IG_ACCOUNT, version="v19.0")

    assert response.status_code == 200
    answer = response.json()
    assert answer["recipient_id"] == IGSID
    assert answer["message_id"].startswith("mid.")
    [record] = graph.sent()
    assert record["account_id"] == IG_ACCOUNT
    assert record["version"] == "v19.0"
    assert record["id"] == answer["message_id"]
    assert record["body"] == instagram_text()


def test_read_receipts_and_sender_actions_are_answered_without_a_message_id(
    graph: GraphDoubleThread,
) -> None:
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"}
    typing = {"recipient": {"id": IGSID}, "sender_action": "typing_on"}

    assert send(graph, read).json() == {"success": True}
    assert send(graph, typing, account=IG_ACCOUNT).json() == {"recipient_id": IGSID}
    assert [record["id"] for record in graph.sent()] == [None, None]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Bearer  "}, {"Authorization": "Basic x"}],
)
def test_a_send_without_a_bearer_token_is_refused(
    graph: GraphDoubleThread, headers: dict[str, str]
) -> None:
    error = assert_meta_error(send(graph, whatsapp_text(), headers=headers), 401, 190)

    assert error["type"] == "OAuthException"
    assert graph.sent() == []


def test_a_body_for_neither_platform_is_refused(graph: GraphDoubleThread) -> None:
    url = f"{graph.url}/v21.0/{PHONE_NUMBER_ID}/messages"
    not_json = requests.post(url, data=b"{", headers=AUTH, timeout=5)
    no_recipient = send(graph, {"messaging_product": "whatsapp", "type": "text"})
    number_as_recipient = send(graph, whatsapp_text_to_user(user_id=WA_ID))
    instagram_shape = send(graph, {**whatsapp_text_to_user(), "recipient": {"id": BSUID}})

    assert_meta_error(not_json, 400, 100)
    assert_meta_error(no_recipient, 400, 100)
    assert_meta_error(number_as_recipient, 400, 100)
    assert_meta_error(instagram_shape, 400, 100)
    assert graph.sent() == []


# Failures on demand


def test_fail_next_fails_exactly_that_many_sends_then_succeeds(graph: GraphDoubleThread) -> None:
    graph.fail_next(130429, 429, times=2)

    responses = [send(graph, whatsapp_text()) for _ in range(3)]

    assert [response.status_code for response in responses] == [429, 429, 200]
    for response in responses[:2]:
        error = assert_meta_error(response, 429, 130429)
        assert error["type"] == "OAuthException"
        assert error["error_subcode"] is None
    records = graph.sent()
    assert [record["status"] for record in records] == [429, 429, 200]
    assert [record["id"] is None for record in records] == [True, True, False]
    assert [record["delivered"] for record in records] == [False, False, True]
    assert records[0]["error"]["code"] == 130429


def test_failures_queued_over_http_can_target_one_account(graph: GraphDoubleThread) -> None:
    spec = {
        "code": 131047,
        "http_status": 400,
        "times": 1,
        "account_id": PHONE_NUMBER_ID,
        "message": "Re-engagement message",
    }
    queued = requests.post(f"{graph.url}/__control/fail", json=spec, timeout=5)
    assert queued.status_code == 200

    other_shop = send(graph, whatsapp_text(), account="100000002")
    failed = send(graph, whatsapp_text())
    retried = send(graph, whatsapp_text())

    assert other_shop.status_code == 200
    assert assert_meta_error(failed, 400, 131047)["message"] == "Re-engagement message"
    assert retried.status_code == 200


def test_an_invalid_failure_request_is_refused(graph: GraphDoubleThread) -> None:
    bad = [{"http_status": 429}, {"code": 4, "http_status": 200}, {"code": 4, "times": 0}]
    for spec in bad:
        response = requests.post(f"{graph.url}/__control/fail", json=spec, timeout=5)
        assert_meta_error(response, 400, 100)
    assert send(graph, whatsapp_text()).status_code == 200


# Media


def register(graph: GraphDoubleThread, content: bytes, **extra: Any) -> dict[str, Any]:
    spec = {"content_b64": base64.b64encode(content).decode(), "mime_type": "image/jpeg", **extra}
    response = requests.post(f"{graph.url}/__control/media", json=spec, timeout=5)
    assert response.status_code == 200
    return response.json()


def test_media_info_and_download_need_the_token(graph: GraphDoubleThread) -> None:
    content = b"\xff\xd8\xff\xe0 a receipt photo"
    media_id = register(graph, content)["id"]
    info_url = f"{graph.url}/v21.0/{media_id}"

    assert_meta_error(requests.get(info_url, timeout=5), 401, 190)
    info = requests.get(info_url, headers=AUTH, timeout=5).json()
    assert info == {
        "messaging_product": "whatsapp",
        "url": f"{graph.url}/__media/{media_id}",
        "mime_type": "image/jpeg",
        "sha256": hashlib.sha256(content).hexdigest(),
        "file_size": len(content),
        "id": media_id,
    }
    assert_meta_error(requests.get(info["url"], timeout=5), 401, 190)
    download = requests.get(info["url"], headers=AUTH, timeout=5)
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["Content-Type"] == "image/jpeg"


def test_media_can_be_registered_with_a_chosen_id_or_from_python(graph: GraphDoubleThread) -> None:
    assert register(graph, b"%PDF-1.4", id="998877", mime_type="application/pdf")["id"] == "998877"
    media_id = graph.add_media(b"png bytes", "image/png")

    info = requests.get(f"{graph.url}/v21.0/{media_id}", headers=AUTH, timeout=5).json()
    pdf = requests.get(f"{graph.url}/__media/998877", headers=AUTH, timeout=5)
    assert info["mime_type"] == "image/png"
    assert pdf.content == b"%PDF-1.4"
    assert pdf.headers["Content-Type"] == "application/pdf"


def test_unknown_media_is_a_meta_404(graph: GraphDoubleThread) -> None:
    info = requests.get(f"{graph.url}/v21.0/123456", headers=AUTH, timeout=5)
    download = requests.get(f"{graph.url}/__media/123456", headers=AUTH, timeout=5)

    assert_meta_error(info, 404, 100)
    assert_meta_error(download, 404, 100)


def test_public_files_need_no_token_and_private_media_is_not_public(
    graph: GraphDoubleThread,
) -> None:
    public = register(graph, b"ig attachment", public=True)
    private = register(graph, b"whatsapp media")

    assert "url" not in private
    download = requests.get(public["url"], timeout=5)
    assert download.status_code == 200
    assert download.content == b"ig attachment"
    assert_meta_error(requests.get(f"{graph.url}/__files/{private['id']}", timeout=5), 404, 100)


def test_downloads_are_recorded_with_the_token_masked(graph: GraphDoubleThread) -> None:
    private = register(graph, b"whatsapp media")["id"]
    public = register(graph, b"ig attachment", public=True)

    requests.get(f"{graph.url}/__media/{private}", headers=AUTH, timeout=5)
    requests.get(public["url"], timeout=5)

    assert graph.downloads() == [
        {"media_id": private, "public": False, "token": "…" + TOKEN[-4:]},
        {"media_id": public["id"], "public": True, "token": None},
    ]
    assert TOKEN not in json.dumps(graph.downloads())


def test_the_media_lookup_can_name_a_url_elsewhere(graph: GraphDoubleThread) -> None:
    elsewhere = "https://media.example.test/receipt.jpg?sig=1"
    from_python = graph.add_media(b"jpeg", "image/jpeg", url=elsewhere)
    over_http = register(graph, b"jpeg", url=elsewhere)["id"]

    for media_id in (from_python, over_http):
        info = requests.get(f"{graph.url}/v21.0/{media_id}", headers=AUTH, timeout=5).json()
        assert info["url"] == elsewhere


def test_a_redirect_sends_the_client_where_it_says(graph: GraphDoubleThread) -> None:
    public = register(graph, b"ig attachment", public=True)

    hop = requests.get(
        f"{graph.url}/__redirect", params={"to": public["url"]}, allow_redirects=False, timeout=5
    )
    assert (hop.status_code, hop.headers["Location"]) == (302, public["url"])
    followed = requests.get(f"{graph.url}/__redirect", params={"to": public["url"]}, timeout=5)
    assert followed.content == b"ig attachment"
    assert_meta_error(requests.get(f"{graph.url}/__redirect", timeout=5), 400, 100)


def test_invalid_media_registration_is_refused(graph: GraphDoubleThread) -> None:
    for spec in [{"content_b64": "not base64!", "mime_type": "image/png"}, {"mime_type": "x/y"}]:
        response = requests.post(f"{graph.url}/__control/media", json=spec, timeout=5)
        assert_meta_error(response, 400, 100)


# Inspection


def listed(graph: GraphDoubleThread, **params: Any) -> list[dict[str, Any]]:
    response = requests.get(f"{graph.url}/__sent", params=params, timeout=5)
    assert response.status_code == 200
    return response.json()


def test_sent_can_be_filtered_by_recipient_and_read_from_an_index(
    graph: GraphDoubleThread,
) -> None:
    send(graph, whatsapp_text(text="one"))
    send(graph, whatsapp_text(to="2348099990000", text="other buyer"))
    send(graph, instagram_text(text="on instagram"), account=IG_ACCOUNT)
    send(graph, whatsapp_text(text="two"))

    assert len(listed(graph)) == 4
    assert [r["body"]["text"]["body"] for r in listed(graph, to=WA_ID)] == ["one", "two"]
    assert [r["body"]["message"]["text"] for r in listed(graph, to=IGSID)] == ["on instagram"]
    assert [r["index"] for r in listed(graph, since=2)] == [2, 3]
    assert [r["index"] for r in listed(graph, to=WA_ID, since=1)] == [3]
    send(graph, whatsapp_text_to_user(text="three"))
    reached = listed(graph, to=[WA_ID, BSUID])  # one buyer's number and user id
    assert [r["index"] for r in reached] == [0, 3, 4]
    assert listed(graph, since=5) == []
    invalid = requests.get(f"{graph.url}/__sent", params={"since": "-1"}, timeout=5)
    assert_meta_error(invalid, 400, 100)


def test_delete_clears_sends_failures_media_and_downloads(graph: GraphDoubleThread) -> None:
    send(graph, whatsapp_text())
    graph.fail_next(131056, 400)
    media_id = graph.add_media(b"x", "image/png")
    requests.get(f"{graph.url}/__media/{media_id}", headers=AUTH, timeout=5)

    assert requests.delete(f"{graph.url}/__sent", timeout=5).status_code == 204

    assert listed(graph) == [] and graph.downloads() == []
    assert send(graph, whatsapp_text()).status_code == 200
    info = requests.get(f"{graph.url}/v21.0/{media_id}", headers=AUTH, timeout=5)
    assert_meta_error(info, 404, 100)


def test_clear_from_python_empties_the_log(graph: GraphDoubleThread) -> None:
    send(graph, whatsapp_text())
    graph.clear()
    assert graph.sent() == []


def test_sent_is_a_copy(graph: GraphDoubleThread) -> None:
    send(graph, whatsapp_text())
    graph.sent()[0]["body"]["to"] = "tampered"
    assert graph.sent()[0]["body"]["to"] == WA_ID


def test_wait_for_sends_returns_once_enough_sends_arrived(graph: GraphDoubleThread) -> None:
    sender = threading.Thread(target=lambda: [send(graph, whatsapp_text()) for _ in range(2)])
    sender.start()

    records = graph.wait_for_sends(2, timeout=10)

    sender.join()
    assert len(records) >= 2
    with pytest.raises(TimeoutError):
        graph.wait_for_sends(3, timeout=0.05)


def test_the_cli_line_masks_the_recipient(graph: GraphDoubleThread) -> None:
    send(graph, whatsapp_text(text="Welcome to\nDemo Shop"))
    graph.fail_next(130429, 429)
    send(graph, {"messaging_product": "whatsapp", "to": WA_ID, "type": "image", "image": {}})

    ok, failed = (send_line(record) for record in graph.sent())
    assert WA_ID not in ok and "***5678" in ok
    assert ok.endswith("Welcome to Demo Shop")
    assert "FAILED 130429" in failed and failed.endswith("[image]")


def test_templates_and_contact_requests_are_described_by_name_and_text() -> None:
    contact_request = {
        "type": "interactive",
        "interactive": {
            "type": "request_contact_info",
            "body": {"text": "Share your number to get your code"},
            "action": {"name": "request_contact_info"},
        },
    }

    assert describe(authentication_template(to=WA_ID)) == "[template trustguard_code]"
    assert describe({"type": "template", "template": {}}) == "[template]"
    assert describe(contact_request) == "Share your number to get your code"


async def test_the_async_double_serves_and_records() -> None:
    double = GraphDouble()
    await double.start()
    try:
        assert double.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session:
            url = f"{double.url}/v21.0/{PHONE_NUMBER_ID}/messages"
            async with session.post(url, json=whatsapp_text(), headers=AUTH) as response:
                assert response.status == 200
                answer = await response.json()
        assert [record["id"] for record in double.sent] == [answer["messages"][0]["id"]]
    finally:
        await double.stop()


# OAuth (connecting a shop)

WABA_ID = "102290129340398"
APP_SECRET = "oauth-app-secret-2b9d"


def exchange(graph: GraphDoubleThread, **params: str) -> requests.Response:
    query = {"client_id": "1234567890", "client_secret": APP_SECRET, **params}
    return requests.get(f"{graph.url}/v21.0/oauth/access_token", params=query, timeout=5)


def code_exchange(graph: GraphDoubleThread, code: str, **params: str) -> requests.Response:
    return exchange(graph, redirect_uri="https://shop.example/cb", code=code, **params)


def long_lived(graph: GraphDoubleThread, token: str) -> str:
    response = exchange(graph, grant_type="fb_exchange_token", fb_exchange_token=token)
    assert response.status_code == 200
    return response.json()["access_token"]


def graph_get(graph: GraphDoubleThread, path: str, token: str | None, **params: str):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{graph.url}/v21.0/{path}", params=params, headers=headers, timeout=5)


def summary(calls: list[dict[str, Any]]) -> list[tuple[str, str | None, int]]:
    """Each recorded OAuth call as (endpoint, grant_type, status)."""
    return [(c["endpoint"], c.get("grant_type"), c["status"]) for c in calls]


def assert_not_recorded(calls: list[dict[str, Any]], *secrets: str) -> None:
    """None of the codes, secrets or tokens appears anywhere in the recorded calls."""
    recorded = json.dumps(calls)
    for secret in secrets:
        assert secret not in recorded


def test_a_registered_code_is_exchanged_once_for_a_token_that_describes_the_grant(
    graph: GraphDoubleThread,
) -> None:
    graph.set_app_secret(APP_SECRET)
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)

    response = code_exchange(graph, "code-1")

    assert response.status_code == 200
    answer = response.json()
    assert answer["token_type"] == "bearer" and answer["expires_in"] == 5183944
    short = answer["access_token"]
    assert graph.grant_of(short)["long_lived"] is False
    token = long_lived(graph, short)
    assert token != short and graph.grant_of(token) == {
        "waba_id": WABA_ID,
        "phone_number_id": PHONE_NUMBER_ID,
        "ig_user_id": None,
        "long_lived": True,
    }
    error = assert_meta_error(code_exchange(graph, "code-1"), 400, 100)
    assert "has been used" in error["message"]


def test_the_token_leads_to_the_business_account_and_its_number(graph: GraphDoubleThread) -> None:
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    token = long_lived(graph, code_exchange(graph, "code-1").json()["access_token"])

    debug = graph_get(graph, "debug_token", token, input_token=token).json()["data"]
    assert debug["is_valid"] is True
    assert {"scope": "whatsapp_business_management", "target_ids": [WABA_ID]} in debug[
        "granular_scopes"
    ]
    numbers = graph_get(graph, f"{WABA_ID}/phone_numbers", token).json()["data"]
    assert [n["id"] for n in numbers] == [PHONE_NUMBER_ID]
    assert graph_get(graph, "me", token, fields="user_id").json() == {"id": "100000000000001"}

    assert_meta_error(graph_get(graph, f"{WABA_ID}/phone_numbers", None), 401, 190)
    assert_meta_error(graph_get(graph, "999/phone_numbers", token), 404, 100)
    unknown = graph_get(graph, "debug_token", token, input_token="EAAGnot-issued").json()
    assert unknown["data"]["is_valid"] is False


def instagram_code_exchange(
    graph: GraphDoubleThread, code: str, **fields: str
) -> requests.Response:
    """api.instagram.com's exchange: a form-encoded POST."""
    form = {
        "client_id": "990602627938098",
        "client_secret": APP_SECRET,
        "grant_type": "authorization_code",
        "redirect_uri": "https://shop.example/cb",
        "code": code,
        **fields,
    }
    return requests.post(f"{graph.url}/oauth/access_token", data=form, timeout=5)


def instagram_long_lived(graph: GraphDoubleThread, token: str, **params: str) -> requests.Response:
    query = {
        "grant_type": "ig_exchange_token",
        "client_secret": APP_SECRET,
        "access_token": token,
        **params,
    }
    return requests.get(f"{graph.url}/access_token", params=query, timeout=5)


def assert_instagram_error(response: requests.Response, message: str) -> None:
    """api.instagram.com answers errors in its own shape, not the Graph API's."""
    assert response.status_code == 400
    body = response.json()
    assert (body["error_type"], body["code"]) == ("OAuthException", 400)
    assert message in body["error_message"]


def test_an_instagram_login_code_gives_a_long_lived_token_and_the_account_id(
    graph: GraphDoubleThread,
) -> None:
    graph.set_app_secret(APP_SECRET)
    graph.add_oauth_code("ig-code", ig_user_id=IG_ACCOUNT)

    response = instagram_code_exchange(graph, "ig-code")

    assert response.status_code == 200
    [entry] = response.json()["data"]
    assert entry["permissions"] == "instagram_business_basic,instagram_business_manage_messages"
    assert str(entry["user_id"]) != IG_ACCOUNT  # Instagram-scoped, not the account id
    short = entry["access_token"]
    assert short.startswith("IGAA") and graph.grant_of(short)["long_lived"] is False

    answer = instagram_long_lived(graph, short).json()
    assert answer["token_type"] == "bearer" and answer["expires_in"] == 5183944
    token = answer["access_token"]
    assert token.startswith("IGAA") and graph.grant_of(token)["long_lived"] is True

    me = graph_get(graph, "me", token, fields="user_id,username").json()
    assert me["user_id"] == IG_ACCOUNT and me["username"] and me["id"] != IG_ACCOUNT
    assert_meta_error(graph_get(graph, "me", "EAAGnot-issued"), 401, 190)

    calls = graph.oauth_calls()
    assert summary(calls[:2]) == [
        ("instagram/oauth/access_token", "authorization_code", 200),
        ("instagram/access_token", "ig_exchange_token", 200),
    ]
    assert calls[0]["content_type"] == "application/x-www-form-urlencoded"
    assert_not_recorded(calls, "ig-code", APP_SECRET, short, token)


def test_the_older_flat_answer_and_the_instagram_apps_own_secret(graph: GraphDoubleThread) -> None:
    graph.set_app_secret(APP_SECRET)
    graph.set_instagram_app_secret("instagram-app-secret")
    graph.wrap_instagram_answers(False)
    graph.add_oauth_code(
        "ig-code", ig_user_id=IG_ACCOUNT, ig_permissions="instagram_business_basic"
    )

    assert_instagram_error(instagram_code_exchange(graph, "ig-code"), "client secret")
    answer = instagram_code_exchange(graph, "ig-code", client_secret="instagram-app-secret").json()

    assert set(answer) == {"access_token", "user_id", "permissions"}
    assert answer["permissions"] == "instagram_business_basic"
    token = answer["access_token"]
    assert_meta_error(instagram_long_lived(graph, token), 400, 1)
    assert instagram_long_lived(graph, token, client_secret="instagram-app-secret").ok


def test_instagram_login_refuses_like_instagram_refuses(graph: GraphDoubleThread) -> None:
    graph.set_app_secret(APP_SECRET)
    graph.add_oauth_code("ig-code", ig_user_id=IG_ACCOUNT)
    graph.add_oauth_code("wa-code", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)

    assert_instagram_error(instagram_code_exchange(graph, "nope"), "Invalid")
    assert_instagram_error(instagram_code_exchange(graph, "ig-code", redirect_uri=""), "redirect")
    assert_instagram_error(instagram_code_exchange(graph, "ig-code", grant_type="x"), "grant_type")
    as_json = requests.post(
        f"{graph.url}/oauth/access_token",
        json={"client_id": "1", "client_secret": APP_SECRET, "code": "ig-code"},
        timeout=5,
    )
    assert_instagram_error(as_json, "Missing")
    # Each login's codes work only at its own host, and are not spent elsewhere.
    assert_instagram_error(instagram_code_exchange(graph, "wa-code"), "Invalid")
    assert_meta_error(code_exchange(graph, "ig-code"), 400, 100)

    short = instagram_code_exchange(graph, "ig-code").json()["data"][0]["access_token"]
    facebook = long_lived(graph, code_exchange(graph, "wa-code").json()["access_token"])
    assert_meta_error(instagram_long_lived(graph, facebook), 400, 190)
    assert_meta_error(instagram_long_lived(graph, short, grant_type="fb_exchange_token"), 400, 100)
    assert_meta_error(
        exchange(graph, grant_type="fb_exchange_token", fb_exchange_token=short), 400, 190
    )
    token = instagram_long_lived(graph, short).json()["access_token"]
    assert_meta_error(instagram_long_lived(graph, token), 400, 190)  # already long-lived


def instagram_refresh(graph: GraphDoubleThread, token: str, **params: str) -> requests.Response:
    query = {"grant_type": "ig_refresh_token", "access_token": token, **params}
    return requests.get(f"{graph.url}/refresh_access_token", params=query, timeout=5)


def instagram_token(graph: GraphDoubleThread, code: str = "ig-code") -> str:
    """A long-lived Instagram Login token for IG_ACCOUNT, as a connection leaves it."""
    graph.add_oauth_code(code, ig_user_id=IG_ACCOUNT)
    short = instagram_code_exchange(graph, code).json()["data"][0]["access_token"]
    return instagram_long_lived(graph, short).json()["access_token"]


def test_a_long_lived_instagram_token_is_refreshed_like_instagram_does(
    graph: GraphDoubleThread,
) -> None:
    token = instagram_token(graph)

    response = instagram_refresh(graph, token)

    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"access_token", "token_type", "expires_in"}
    assert answer["token_type"] == "bearer" and answer["expires_in"] == 5183944
    fresh = answer["access_token"]
    assert fresh.startswith("IGAA") and fresh != token
    assert graph.grant_of(fresh) == graph.grant_of(token)
    assert instagram_refresh(graph, fresh).status_code == 200  # and again, 60 days on

    calls = graph.oauth_calls()[2:]
    assert summary(calls) == [
        ("instagram/refresh_access_token", "ig_refresh_token", 200),
        ("instagram/refresh_access_token", "ig_refresh_token", 200),
    ]
    assert calls[0]["account_id"] == IG_ACCOUNT
    assert_not_recorded(graph.oauth_calls(), token, fresh)


def test_a_refresh_is_refused_like_instagram_refuses_it(graph: GraphDoubleThread) -> None:
    token = instagram_token(graph)
    graph.add_oauth_code("ig-short", ig_user_id=IG_ACCOUNT)
    short = instagram_code_exchange(graph, "ig-short").json()["data"][0]["access_token"]
    graph.add_oauth_code("wa-code", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    facebook = long_lived(graph, code_exchange(graph, "wa-code").json()["access_token"])

    for refused in (short, facebook, "IGAAnever-issued"):
        assert_meta_error(instagram_refresh(graph, refused), 400, 190)
    assert_meta_error(instagram_refresh(graph, token, grant_type="ig_exchange_token"), 400, 100)

    # Failures are queued as for sends: for this account (or any), then it works again.
    graph.fail_next(190, 400, account_id="17841499999999999")
    graph.fail_next(190, 400, account_id=IG_ACCOUNT)
    error = assert_meta_error(instagram_refresh(graph, token), 400, 190)
    assert "Session has expired" in error["message"]
    graph.fail_next(2, 503)
    assert_meta_error(instagram_refresh(graph, token), 503, 2)
    assert instagram_refresh(graph, token).status_code == 200
    statuses = [c["status"] for c in graph.oauth_calls() if "refresh" in c["endpoint"]]
    assert statuses == [400, 400, 400, 400, 400, 503, 200]
    assert graph.sent() == []


def test_oauth_exchanges_are_refused_like_meta_refuses_them(graph: GraphDoubleThread) -> None:
    graph.set_app_secret(APP_SECRET)
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)

    assert_meta_error(code_exchange(graph, "nope"), 400, 100)
    assert_meta_error(code_exchange(graph, "code-1", client_secret="wrong"), 400, 1)
    assert_meta_error(exchange(graph, code="code-1"), 400, 100)  # no redirect_uri
    bad_token = exchange(graph, grant_type="fb_exchange_token", fb_exchange_token="EAAGforged")
    assert_meta_error(bad_token, 400, 190)
    # The code survived the refusals above, which never reached it.
    assert code_exchange(graph, "code-1").status_code == 200


def test_oauth_calls_are_recorded_without_codes_secrets_or_tokens(graph: GraphDoubleThread) -> None:
    graph.add_oauth_code("code-1", waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)
    short = code_exchange(graph, "code-1").json()["access_token"]
    token = long_lived(graph, short)
    graph_get(graph, "debug_token", token, input_token=token)

    calls = graph.oauth_calls()
    assert summary(calls) == [
        ("oauth/access_token", "authorization_code", 200),
        ("oauth/access_token", "fb_exchange_token", 200),
        ("debug_token", None, 200),
    ]
    assert calls[0]["redirect_uri"] == "https://shop.example/cb"
    assert_not_recorded(calls, "code-1", APP_SECRET, short, token)
    graph.clear()
    assert graph.oauth_calls() == [] and code_exchange(graph, "code-1").status_code == 400


def visit_dialog(graph: GraphDoubleThread, path: str, **params: str) -> requests.Response:
    query = {"client_id": "1234", "redirect_uri": "https://shop.example/cb?x=1", **params}
    return requests.get(f"{graph.url}{path}", params=query, allow_redirects=False, timeout=5)


def back_to(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://shop.example/cb?x=1&")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_the_facebook_dialog_sends_the_owner_back_with_a_code_for_what_they_share(
    graph: GraphDoubleThread,
) -> None:
    graph.authorize_next(waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID)

    back = back_to(
        visit_dialog(graph, "/v21.0/dialog/oauth", state="s-1", response_type="code", scope="a,b")
    )

    assert (back["x"], back["state"]) == ("1", "s-1")
    short = code_exchange(graph, back["code"]).json()["access_token"]
    assert graph.grant_of(long_lived(graph, short))["phone_number_id"] == PHONE_NUMBER_ID
    visit = graph.oauth_calls()[0]
    assert visit == {
        "endpoint": "dialog/oauth",
        "client_id": "1234",
        "redirect_uri": "https://shop.example/cb?x=1",
        "scope": "a,b",
        "status": 302,
    }
    assert_not_recorded(graph.oauth_calls(), back["code"], "s-1")


def test_the_instagram_dialog_gives_an_instagram_login_code(graph: GraphDoubleThread) -> None:
    graph.authorize_next(ig_user_id="17841400000000009")

    back = back_to(visit_dialog(graph, "/oauth/authorize", state="s-2", response_type="code"))

    assert back["state"] == "s-2"
    assert code_exchange(graph, back["code"]).status_code == 400  # not Facebook Login's
    assert instagram_code_exchange(graph, back["code"]).status_code == 200
    assert graph.oauth_calls()[0]["endpoint"] == "instagram/oauth/authorize"


def test_without_a_choice_the_owner_declines_and_bad_visits_are_refused(
    graph: GraphDoubleThread,
) -> None:
    back = back_to(visit_dialog(graph, "/v21.0/dialog/oauth", state="s-3", response_type="code"))
    assert back == {
        "x": "1",
        "state": "s-3",
        "error": "access_denied",
        "error_code": "200",
        "error_description": "Permissions error",
        "error_reason": "user_denied",
    }
    assert_meta_error(visit_dialog(graph, "/v21.0/dialog/oauth", state="s"), 400, 100)
    graph.authorize_next(waba_id=WABA_ID)
    graph.clear()
    assert "error" in back_to(visit_dialog(graph, "/oauth/authorize", response_type="code"))


def test_oauth_codes_and_the_app_secret_can_be_set_over_http(graph: GraphDoubleThread) -> None:
    control = f"{graph.url}/__control"
    spec = {"code": "c-9", "waba_id": WABA_ID, "phone_number_id": PHONE_NUMBER_ID}
    assert requests.post(f"{control}/oauth_code", json=spec, timeout=5).status_code == 200
    secret = {"app_secret": APP_SECRET}
    assert requests.post(f"{control}/app_secret", json=secret, timeout=5).status_code == 200

    assert_meta_error(code_exchange(graph, "c-9", client_secret="wrong"), 400, 1)
    assert code_exchange(graph, "c-9").status_code == 200
    refused = requests.post(f"{control}/oauth_code", json={"waba_id": "1"}, timeout=5)
    assert_meta_error(refused, 400, 100)


# The WhatsApp chat tool


def message_of(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["entry"][0]["changes"][0]["value"]["messages"][0]


def test_text_webhook_has_the_cloud_api_shape() -> None:
    payload = whatsapp_text_webhook("hello", **WHO)

    assert payload["object"] == "whatsapp_business_account"
    [entry] = payload["entry"]
    [change] = entry["changes"]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"]["phone_number_id"] == PHONE_NUMBER_ID
    assert value["contacts"] == [{"profile": {"name": "Ada"}, "wa_id": WA_ID, "user_id": BSUID}]
    [message] = value["messages"]
    assert message["from"] == WA_ID
    assert message["from_user_id"] == BSUID
    assert message["id"].startswith("wamid.")
    assert message["timestamp"].isdigit()
    assert abs(int(message["timestamp"]) - dt.datetime.now().timestamp()) < 3600
    assert message["type"] == "text"
    assert message["text"] == {"body": "hello"}


def test_a_buyer_with_a_username_shows_no_number_at_all() -> None:
    who = {"phone_number_id": PHONE_NUMBER_ID, "buyer": ADA_BUYS}
    button = Choice("button_reply", "confirm:ORD-7F3K9Q", "Confirm", message_id="wamid.OFFER")

    for payload in (whatsapp_text_webhook("hi", **who), whatsapp_button_webhook(button, **who)):
        value = payload["entry"][0]["changes"][0]["value"]
        # Absent, not empty, as Meta sends them.
        assert value["contacts"] == [
            {"profile": {"name": "Ada", "username": "ada_buys"}, "user_id": BSUID}
        ]
        [message] = value["messages"]
        assert "from" not in message
        assert message["from_user_id"] == BSUID
        [parsed], _ = parse_whatsapp(payload)  # and the assistant reads them so
        assert (parsed.sender, parsed.whatsapp.wa_id) == (BSUID, None)
        assert parsed.whatsapp.username == "ada_buys"


def test_the_shared_number_answers_the_request_for_it_in_metas_shape() -> None:
    payload = whatsapp_shared_number_webhook(
        "2348099990000", phone_number_id=PHONE_NUMBER_ID, buyer=ADA_BUYS
    )

    message = message_of(payload)
    assert "from" not in message
    assert (message["type"], message["from_user_id"]) == ("contacts", BSUID)
    assert message["contacts"] == [
        {
            "name": {"formatted_name": "Ada"},
            "phones": [{"phone": "+234 809 999 0000", "wa_id": "2348099990000", "type": "CELL"}],
            "origin": "contact_request",
        }
    ]
    [parsed], _ = parse_whatsapp(payload)
    assert parsed.contact is not None and parsed.contact.is_senders_own
    assert parsed.contact.wa_id == "2348099990000"


def test_a_default_user_id_is_a_bsuid_that_stays_with_the_number() -> None:
    user_id = default_user_id(WA_ID)

    assert is_bsuid(user_id) and user_id.startswith("NG.")
    assert default_user_id(WA_ID) == user_id
    assert default_user_id("2348099990000") != user_id


def test_each_webhook_message_has_a_fresh_id() -> None:
    ids = {message_of(whatsapp_text_webhook("hi", **WHO))["id"] for _ in range(3)}
    assert len(ids) == 3


def test_button_webhooks_answer_the_offer() -> None:
    button = Choice("button_reply", "confirm:ORD-7F3K9Q", "Confirm", message_id="wamid.OFFER")
    row = Choice("list_reply", "order:ORD-7", "ORD-7", "NGN 25,000")

    tapped = message_of(whatsapp_button_webhook(button, **WHO))
    chosen = message_of(whatsapp_button_webhook(row, **WHO))

    assert tapped["type"] == "interactive"
    assert tapped["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "confirm:ORD-7F3K9Q", "title": "Confirm"},
    }
    assert tapped["context"]["id"] == "wamid.OFFER"
    assert chosen["interactive"] == {
        "type": "list_reply",
        "list_reply": {"id": "order:ORD-7", "title": "ORD-7", "description": "NGN 25,000"},
    }
    assert "context" not in chosen


def test_sign_is_meta_hmac_sha256_of_the_raw_body() -> None:
    body = json.dumps({"object": "whatsapp_business_account", "text": "Ẹ kú àárọ̀"}).encode()
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign(body, SECRET) == "sha256=" + expected


def reply_buttons(text: str, *buttons: tuple[str, str]) -> dict[str, Any]:
    """A WhatsApp send body offering reply buttons, each given as (id, title)."""
    offered = [{"type": "reply", "reply": {"id": id_, "title": title}} for id_, title in buttons]
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": text},
            "action": {"buttons": offered},
        },
    }


def test_replies_render_buttons_lists_and_images() -> None:
    offer = reply_buttons("Which order?", ("o1", "ORD-1"), ("o2", "ORD-2"))
    buttons = {"id": "wamid.B", "error": None, "body": offer}
    section = {"title": "Pending", "rows": [{"id": "r1", "title": "ORD-1", "description": "NGN 5"}]}
    interactive = {
        "type": "list",
        "body": {"text": "Pick one"},
        "action": {"button": "Orders", "sections": [section]},
    }
    list_body = {"type": "interactive", "interactive": interactive}
    rows = {"id": "wamid.L", "error": None, "body": list_body}
    image = {"error": None, "body": {"type": "image", "image": {"link": "https://x/y.png"}}}

    lines, choices = render_reply(buttons)
    assert lines == ["Which order?", "  1. ORD-1", "  2. ORD-2"]
    assert choices[1] == Choice("button_reply", "o2", "ORD-2", None, "wamid.B")
    lines, choices = render_reply(rows)
    assert lines == ["Pick one", "  [Orders]", "  Pending", "  1. ORD-1 - NGN 5"]
    assert choices == [Choice("list_reply", "r1", "ORD-1", "NGN 5", "wamid.L")]
    assert render_reply(image) == (["[image] https://x/y.png"], [])


def test_only_an_offered_number_picks_a_choice() -> None:
    choices = [Choice("button_reply", "a", "A"), Choice("button_reply", "b", "B")]
    assert pick("2", choices) == choices[1]
    assert pick("3", choices) is None
    assert pick("0", choices) is None
    assert pick("2 bags", choices) is None
    assert pick("share", choices) is None


def contact_request(text: str) -> dict[str, Any]:
    """A WhatsApp send body asking for the buyer's number, as the assistant sends it."""
    interactive = {
        "type": "request_contact_info",
        "body": {"text": text},
        "action": {"name": "request_contact_info"},
    }
    return {"type": "interactive", "interactive": interactive}


def test_a_request_for_the_number_is_shown_and_answered_with_share() -> None:
    record = {"id": "wamid.R", "error": None, "body": contact_request("Share your number")}

    lines, choices = render_reply(record)

    assert lines == ["Share your number", '  [Share phone number] type "share" to send your number']
    assert choices == [Choice(CONTACT_REQUEST, "share", "Share phone number", None, "wamid.R")]
    assert pick("share", choices) == pick("Share", choices) == choices[0]


class StubAssistant(ThreadingHTTPServer):
    """Plays the assistant's WhatsApp webhook: checks the signature, replies through the double."""

    def __init__(self, graph_url: str) -> None:
        super().__init__(("127.0.0.1", 0), _StubHandler)
        self.graph_url = graph_url
        self.received: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/webhooks/whatsapp/webhook"

    def reply(self, address: dict[str, str], body: dict[str, Any]) -> None:
        url = f"{self.graph_url}/v21.0/{PHONE_NUMBER_ID}/messages"
        message = {"messaging_product": "whatsapp", "recipient_type": "individual", **address}
        requests.post(url, json={**message, **body}, headers=AUTH, timeout=5).raise_for_status()


class _StubHandler(BaseHTTPRequestHandler):
    server: StubAssistant

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("X-Hub-Signature-256") != signature_header(SECRET, raw):
            self.send_response(403)
            self.end_headers()
            return
        message = message_of(json.loads(raw))
        self.server.received.append(message)
        user_id = message["from_user_id"]
        sender = {"to": message["from"]} if "from" in message else {"recipient": user_id}
        if message["type"] == "contacts":
            # A user id in `to` is accepted and lost; the chat must not show it.
            self.server.reply({"to": user_id}, text("Lost"))
            shared = message["contacts"][0]["phones"][0]["wa_id"]
            self.server.reply({"to": shared}, text("Thanks, got your number"))
        elif message["type"] == "text":
            self.server.reply(sender, BUTTONS if "from" in message else ASK_FOR_NUMBER)
        elif message["type"] in ("image", "document"):
            self.server.reply(sender, {"type": "text", "text": {"body": "Got a file"}})
        else:
            picked = message["interactive"]["button_reply"]["id"]
            self.server.reply(sender, text(f"Got {picked}"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Keep the test output clean."""


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}


BUTTONS = reply_buttons("Confirm ORD-1?", ("yes", "Yes"), ("no", "No"))
ASK_FOR_NUMBER = contact_request("Share your number to continue")


@pytest.fixture
def assistant(graph: GraphDoubleThread) -> Iterator[StubAssistant]:
    server = StubAssistant(graph.url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def lines_then_eof(*lines: str) -> Callable[[], str]:
    remaining = iter(lines)

    def read_line() -> str:
        try:
            return next(remaining)
        except StopIteration:
            raise EOFError from None

    return read_line


def config(
    graph: GraphDoubleThread,
    assistant: StubAssistant,
    secret: str,
    buyer: Buyer = ADA,
    share_wa_id: str = WA_ID,
) -> ChatConfig:
    return ChatConfig(
        webhook=assistant.url,
        graph=graph.url,
        phone_number_id=PHONE_NUMBER_ID,
        buyer=buyer,
        share_wa_id=share_wa_id,
        app_secret=secret,
        reply_timeout=10,
        quiet_period=0.2,
        poll_interval=0.05,
    )


def test_chat_sends_signed_webhooks_and_buttons_work_by_number(
    graph: GraphDoubleThread, assistant: StubAssistant
) -> None:
    send(graph, whatsapp_text(text="from an earlier session"))
    out: list[str] = []

    chat(config(graph, assistant, SECRET), lines_then_eof("hi", "", "2"), out.append)

    assert out == ["bot> Confirm ORD-1?", "       1. Yes", "       2. No", "bot> Got no"]
    text, tapped = assistant.received
    assert text["text"] == {"body": "hi"}
    assert tapped["interactive"]["button_reply"] == {"id": "no", "title": "No"}
    offer = graph.sent()[1]
    assert tapped["context"]["id"] == offer["id"]


def test_chat_as_a_username_reads_replies_by_user_id_and_shares_the_number(
    graph: GraphDoubleThread, assistant: StubAssistant
) -> None:
    out: list[str] = []
    settings = config(graph, assistant, SECRET, buyer=ADA_BUYS, share_wa_id="2348099990000")

    chat(settings, lines_then_eof("hi", "share"), out.append)

    assert out == [
        "bot> Share your number to continue",
        '       [Share phone number] type "share" to send your number',
        "bot> Thanks, got your number",
    ]
    said, shared = assistant.received
    assert "from" not in said and said["from_user_id"] == BSUID
    assert shared["type"] == "contacts" and "from" not in shared
    assert shared["contacts"][0]["origin"] == "contact_request"
    assert shared["contacts"][0]["phones"][0]["wa_id"] == "2348099990000"
    lost = [r for r in graph.sent() if not r["delivered"]]
    assert [r["body"]["text"]["body"] for r in lost] == ["Lost"]


def test_chat_sends_a_file_as_whatsapp_media(
    graph: GraphDoubleThread, assistant: StubAssistant, tmp_path: Path
) -> None:
    """``/file <path>``: a photo goes as an image, a PDF as a document, each registered with
    the double as media the assistant can download; a file that cannot be read is said so."""
    photo, pdf = tmp_path / "receipt.jpg", tmp_path / "receipt.pdf"
    photo.write_bytes(b"\xff\xd8\xff\xe0 a photo")
    pdf.write_bytes(b"%PDF-1.4 a receipt")
    out: list[str] = []
    lines = lines_then_eof(f"/file {photo}", f"/file {pdf}", f"/file {tmp_path / 'none.jpg'}")

    chat(config(graph, assistant, SECRET), lines, out.append)

    assert out[:2] == ["bot> Got a file", "bot> Got a file"]
    assert out[2].startswith("! cannot read") and len(out) == 3
    image, document = assistant.received
    assert image["type"] == "image" and image["image"]["mime_type"] == "image/jpeg"
    assert document["document"]["filename"] == "receipt.pdf"
    for message, path in ((image["image"], photo), (document["document"], pdf)):
        info = requests.get(f"{graph.url}/v26.0/{message['id']}", headers=AUTH, timeout=5).json()
        content = requests.get(info["url"], headers=AUTH, timeout=5).content
        assert content == path.read_bytes()
        assert message["sha256"] == hashlib.sha256(content).hexdigest()


def test_chat_reports_a_refused_webhook(graph: GraphDoubleThread, assistant: StubAssistant) -> None:
    out: list[str] = []

    chat(config(graph, assistant, "wrong-secret"), lines_then_eof("hi"), out.append)

    assert out == ["! webhook answered 403: "]
    assert assistant.received == []


def test_chat_refuses_to_start_without_the_app_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("META_APP_SECRET", raising=False)

    assert main(["--graph", "http://127.0.0.1:9"]) == 2
    assert "META_APP_SECRET" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option",
    [["--bsuid", "8462019375510"], ["--share-phone", "12"], ["--wa-id", "not a number"]],
)
def test_chat_refuses_ids_that_cannot_be_whatsapp_ones(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    monkeypatch.setenv("META_APP_SECRET", SECRET)

    with pytest.raises(SystemExit) as exited:
        main(["--graph", "http://127.0.0.1:9", *option])

    assert exited.value.code == 2
    assert f"argument {option[0]}: " in capsys.readouterr().err


def test_the_username_option_chats_with_no_number_shown(
    graph: GraphDoubleThread,
    assistant: StubAssistant,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("META_APP_SECRET", SECRET)
    typed = lines_then_eof("hi", "share")
    monkeypatch.setattr("builtins.input", lambda prompt: typed())
    argv = ["--graph", graph.url, "--webhook", assistant.url, "--username", "ada_buys"]

    assert main(argv) == 0

    said, shared = assistant.received
    assert "from" not in said and said["from_user_id"] == default_user_id(WA_ID)
    assert shared["contacts"][0]["phones"][0]["wa_id"] == WA_ID  # --share-phone defaults so
    out = capsys.readouterr().out
    assert "Ada (@ada_buys, no number shown, user id ***" in out and WA_ID not in out
    assert "bot> Thanks, got your number" in out
