"""The WhatsApp and Instagram channels over HTTP: Meta's contract, the durable inbox, and replies
observed at the Graph API double (a real HTTP server on loopback).

Rasa's message handler is played by a recorder that answers through the channel's own output
channel, so what Rasa would receive and what buyers would get are both visible. The server's
agent is a real Rasa agent on the real domain, with the shops' response generator, for what the
channel says outside a turn.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.meta import inbox
from bot.meta.signature import signature_header
from bot.meta.webhooks import InboundMessage, parse_whatsapp
from bot.platform import db
from bot.platform import secrets as secret_store
from bot.platform.models import (
    AuditEvent,
    Buyer,
    BuyerIdentity,
    InboxMessage,
    OutboundMessage,
    utcnow,
)
from bot.platform.settings import get_settings
from bot.shop.profile import default_variants
from connectors.instagram import InstagramInput
from connectors.meta import turns
from connectors.meta.input import MISSED_MESSAGES, ChannelConfigurationError
from connectors.whatsapp import WhatsAppInput
from devtools.graph_double import GraphDoubleThread
from tests.helpers.channels import RasaStandIn, app_for
from tests.helpers.meta import (
    APP_SECRET,
    BUYER,
    BUYER_BSUID,
    IG_ACCOUNT_ID,
    OTHER_PHONE_NUMBER_ID,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    ig_attachment,
    ig_event,
    instagram,
    signed,
    wa_from_user,
    wa_message,
    wa_photo,
    wa_status,
    wa_system,
    wa_text,
    whatsapp,
)
from tests.helpers.profiles import configure, import_responses

WA_URL = "/webhooks/whatsapp/webhook"
IG_URL = "/webhooks/instagram/webhook"
JPEG = b"\xff\xd8\xff\xe0" + b"receipt-bytes" * 50
HOUR = 3600
OTHER = "2348099990000"


class SilentRasa(RasaStandIn):
    """Rasa whose custom actions fail for the first ``silent`` turns: it logs the failure and
    answers nothing, which is all a channel can see of it."""

    def __init__(self, silent: int) -> None:
        super().__init__()
        self.silent = silent

    async def __call__(self, message: UserMessage) -> None:
        if self.silent:
            self.silent -= 1
            self.messages.append(message)
            return
        await super().__call__(message)


class SlowRasa(RasaStandIn):
    """Takes a while per turn and remembers how many turns ran at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, message: UserMessage) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        # Longer than a claim takes on a busy machine, so that turns overlap.
        await asyncio.sleep(0.2)
        await super().__call__(message)
        self.in_flight -= 1


def worded(response: str, tone: str = "friendly") -> str:
    return default_variants(response, tone)[0]["text"]


async def until(condition: Callable[[], Any], timeout: float = 15.0) -> None:
    """Background work is awaited, never timed: fail only if it never happens."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("background processing did not finish")
        await asyncio.sleep(0.02)


async def post(app: Sanic, url: str, payload: Any, headers: dict[str, str] | None = None):
    body, signature = signed(payload)
    _, response = await app.asgi_client.post(url, content=body, headers=headers or signature)
    return response


def inbox_rows() -> list[InboxMessage]:
    with db.session_scope() as session:
        return list(session.execute(sa.select(InboxMessage).order_by(InboxMessage.id)).scalars())


def outbound_rows() -> list[OutboundMessage]:
    with db.session_scope() as session:
        return list(session.execute(sa.select(OutboundMessage)).scalars())


# Handshake and signatures


async def test_handshake_answers_the_challenge_only_for_the_right_token() -> None:
    app = app_for(WhatsAppInput, RasaStandIn())
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    _, response = await app.asgi_client.get(WA_URL, params=good)
    assert (response.status, response.text) == (200, "1158201444")
    for wrong in ({**good, "hub.verify_token": "guess"}, {**good, "hub.mode": "unsubscribe"}, {}):
        _, response = await app.asgi_client.get(WA_URL, params=wrong)
        assert response.status == 403


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=",
        "sha1=0123456789abcdef0123456789abcdef01234567",
        "sha256=" + "0" * 64,
        "sha256=" + "A" * 64,
        "SHA256=" + "0" * 64,
    ],
)
async def test_missing_malformed_or_wrong_signature_is_refused_and_leaves_nothing(
    signature: str | None, graph: GraphDoubleThread
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = await post(app, WA_URL, whatsapp([wa_text("hi")]), headers)
    assert response.status == 403
    await asyncio.sleep(0.1)
    assert inbox_rows() == [] and rasa.messages == [] and graph.sent() == []


async def test_a_body_signed_with_another_secret_is_refused() -> None:
    app = app_for(WhatsAppInput, RasaStandIn())
    body, headers = signed(whatsapp([wa_text("hi")]), secret="not-the-app-secret")
    _, response = await app.asgi_client.post(WA_URL, content=body, headers=headers)
    assert response.status == 403
    assert inbox_rows() == []


async def test_instagram_webhooks_may_be_signed_with_the_instagram_app_secret(
    monkeypatch: pytest.MonkeyPatch, graph: GraphDoubleThread
) -> None:
    instagram_secret = "instagram-login-app-secret"
    monkeypatch.setenv("INSTAGRAM_APP_SECRET", instagram_secret)
    secret_store.reset_cache()
    rasa = RasaStandIn()
    instagram_app = app_for(InstagramInput, rasa)
    body, headers = signed(instagram([ig_event({"text": "hi"})]), secret=instagram_secret)
    _, response = await instagram_app.asgi_client.post(IG_URL, content=body, headers=headers)
    assert response.status == 200
    body, headers = signed(instagram([ig_event({"text": "hi again"})]))
    _, response = await instagram_app.asgi_client.post(IG_URL, content=body, headers=headers)
    assert response.status == 200
    await until(lambda: len(rasa.messages) == 2)

    whatsapp_app = app_for(WhatsAppInput, RasaStandIn())
    body, headers = signed(whatsapp([wa_text("hi")]), secret=instagram_secret)
    _, response = await whatsapp_app.asgi_client.post(WA_URL, content=body, headers=headers)
    assert response.status == 403


async def test_bodies_over_3_mb_are_refused() -> None:
    app = app_for(WhatsAppInput, RasaStandIn())
    response = await post(app, WA_URL, whatsapp([wa_text("x" * (3 * 1024 * 1024))]))
    assert response.status == 413
    assert inbox_rows() == []


def test_an_empty_app_secret_stops_the_channel_from_starting(monkeypatch) -> None:
    monkeypatch.setenv("META_APP_SECRET", "")
    get_settings.cache_clear()
    with pytest.raises(ChannelConfigurationError, match="META_APP_SECRET"):
        WhatsAppInput.from_credentials(None)


# Messages, batches, duplicates, tenants


async def test_text_reaches_rasa_scoped_to_the_shop_and_the_reply_reaches_the_buyer(
    graph: GraphDoubleThread,
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    response = await post(app, WA_URL, whatsapp([wa_text("hello")]))
    assert response.status == 200
    await until(lambda: len(outbound_rows()) == 1)

    message = rasa.messages[0]
    assert message.text == "hello"
    assert message.sender_id == f"mama-put:whatsapp:{BUYER}"
    assert message.metadata == {
        "shop_id": "mama-put",
        "channel": "whatsapp",
        "user_id": BUYER,
        "user_name": "Ada",
    }
    send = graph.sent()[0]
    assert send["account_id"] == PHONE_NUMBER_ID
    assert send["body"]["to"] == BUYER
    assert send["body"]["text"]["body"] == "got: hello"
    assert [r.platform_message_id for r in outbound_rows()] == [send["id"]]
    assert [r.state for r in inbox_rows()] == ["done"]


async def test_every_message_of_a_batch_is_handled_in_order_per_sender(
    graph: GraphDoubleThread,
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    other = "2348099990000"
    batch = [
        wa_text("one"),
        wa_text("uno", sender=other),
        wa_text("two"),
        wa_text("dos", sender=other),
        wa_text("three"),
    ]
    assert (await post(app, WA_URL, whatsapp(batch))).status == 200
    await until(lambda: len(rasa.messages) == 5)
    by_sender: dict[str, list[str]] = {}
    for message in rasa.messages:
        by_sender.setdefault(message.sender_id, []).append(message.text)
    assert by_sender == {
        f"mama-put:whatsapp:{BUYER}": ["one", "two", "three"],
        f"mama-put:whatsapp:{other}": ["uno", "dos"],
    }


async def test_a_redelivered_message_is_processed_once(graph: GraphDoubleThread) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    payload = whatsapp([wa_text("confirm")])
    for _ in range(3):
        assert (await post(app, WA_URL, payload)).status == 200
    await until(lambda: len(graph.sent()) >= 1)
    await asyncio.sleep(0.2)
    assert rasa.texts == ["confirm"]
    assert len(graph.sent()) == 1
    assert len(inbox_rows()) == 1


async def test_an_unknown_account_is_acknowledged_and_nothing_else_happens(
    graph: GraphDoubleThread,
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    response = await post(app, WA_URL, whatsapp([wa_text("hi")], phone_number_id="999999"))
    assert response.status == 200
    await asyncio.sleep(0.2)
    assert inbox_rows() == [] and rasa.messages == [] and graph.sent() == []


async def test_one_number_buying_from_two_shops_has_two_conversations(
    graph: GraphDoubleThread,
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([wa_text("hi mama put")]))
    await post(app, WA_URL, whatsapp([wa_text("hi iya")], phone_number_id=OTHER_PHONE_NUMBER_ID))
    await until(lambda: len(graph.sent()) == 2)
    assert {m.sender_id: m.metadata["shop_id"] for m in rasa.messages} == {
        f"mama-put:whatsapp:{BUYER}": "mama-put",
        f"iya-basket:whatsapp:{BUYER}": "iya-basket",
    }
    assert sorted(s["account_id"] for s in graph.sent()) == sorted(
        [PHONE_NUMBER_ID, OTHER_PHONE_NUMBER_ID]
    )


# WhatsApp usernames and business-scoped user ids


async def test_a_phone_less_message_is_answered_through_the_user_id(
    graph: GraphDoubleThread,
) -> None:
    """A username user who withholds their number: acknowledged, answered, and the reply
    addressed by ``recipient`` with no ``to`` (a user id in ``to`` is delivered nowhere)."""
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    message = wa_from_user("text", {"text": {"body": "hello"}}, phone=None)
    payload = whatsapp([message], usernames={BUYER_BSUID: "ada.buys"})
    assert (await post(app, WA_URL, payload)).status == 200
    await until(lambda: len(graph.sent()) == 1)
    assert rasa.messages[0].sender_id == f"mama-put:whatsapp:{BUYER_BSUID}"
    body = graph.sent()[0]["body"]
    assert body["recipient"] == BUYER_BSUID and "to" not in body
    with db.session_scope() as session:
        identity = session.execute(sa.select(BuyerIdentity)).scalar_one()
    assert (identity.bsuid, identity.wa_id, identity.username) == (BUYER_BSUID, None, "ada.buys")


async def test_the_conversation_survives_a_withheld_and_then_a_changed_number(
    graph: GraphDoubleThread,
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    new_number, new_user_id = "2348099998888", "NG.1111111111111"
    await post(app, WA_URL, whatsapp([wa_from_user("text", {"text": {"body": "one"}})]))
    await until(lambda: len(graph.sent()) == 1)
    withheld = wa_from_user("text", {"text": {"body": "two"}}, phone=None)
    await post(app, WA_URL, whatsapp([withheld]))
    await until(lambda: len(graph.sent()) == 2)
    notice = wa_system(
        "user_changed_number",
        phone=BUYER,
        previous_user_id=BUYER_BSUID,
        wa_id=new_number,
        user_id=new_user_id,
    )
    await post(app, WA_URL, whatsapp([notice]))
    after = wa_from_user("text", {"text": {"body": "three"}}, phone=new_number, user_id=new_user_id)
    await post(app, WA_URL, whatsapp([after]))
    await until(lambda: len(graph.sent()) == 3)
    assert rasa.texts == ["one", "two", "three"]
    assert {m.sender_id for m in rasa.messages} == {f"mama-put:whatsapp:{BUYER}"}
    assert [s["body"].get("to") for s in graph.sent()] == [BUYER, BUYER, new_number]
    with db.session_scope() as session:
        buyer = session.execute(sa.select(Buyer)).scalar_one()
    assert buyer.phone == "+2348099998888"


@pytest.mark.parametrize(
    "notice",
    [
        wa_system(
            "user_changed_user_id",
            phone=None,
            previous_user_id=BUYER_BSUID,
            user_id="NG.2222222222222",
        ),
        wa_system(
            "user_changed_number", phone=BUYER, previous_user_id=BUYER_BSUID, wa_id="2348099998888"
        ),
        wa_from_user("revoke", {"revoke": {"original_message_id": "wamid.EARLIER"}}),
        wa_from_user(
            "edit",
            {
                "edit": {
                    "original_message_id": "wamid.EARLIER",
                    "message": {"type": "text", "text": {"body": "x"}},
                }
            },
        ),
    ],
    ids=["user id changed", "number changed", "deleted", "edited"],
)
async def test_notices_about_the_buyer_are_recorded_and_never_answered(
    notice: dict, graph: GraphDoubleThread
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    assert (await post(app, WA_URL, whatsapp([notice]))).status == 200
    assert (await post(app, WA_URL, whatsapp([notice]))).status == 200
    await asyncio.sleep(0.3)
    assert rasa.messages == [] and graph.sent() == []
    assert [r.state for r in inbox_rows()] == ["done"]


@pytest.mark.parametrize(
    ("origin", "text"), [("contact_request", "/link_phone"), ("other", "/help")]
)
async def test_a_number_shared_by_request_is_bound_before_the_turn(
    origin: str, text: str, graph: GraphDoubleThread
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    card = {
        "name": {"formatted_name": "Ada Obi"},
        "phones": [{"phone": "+234 801 234 5678", "wa_id": BUYER, "type": "CELL"}],
        "origin": origin,
    }
    shared = wa_from_user("contacts", {"contacts": [card]}, phone=None)
    await post(app, WA_URL, whatsapp([shared]))
    await until(lambda: len(rasa.messages) == 1)
    assert rasa.texts == [text]
    with db.session_scope() as session:
        buyer = session.execute(sa.select(Buyer)).scalar_one()
    assert (buyer.phone == "+2348012345678") is (origin == "contact_request")


async def test_buttons_map_to_the_payload_the_bot_sent() -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    payload = '/confirm_order{"order_id": "ORD-7F3K9Q"}'
    interactive = wa_message(
        "interactive",
        {
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": payload, "title": "Confirm"},
            }
        },
    )
    listed = wa_message(
        "interactive",
        {"interactive": {"type": "list_reply", "list_reply": {"id": "/help", "title": "Help"}}},
    )
    template = wa_message("button", {"button": {"payload": "/order_status", "text": "Track"}})
    await post(app, WA_URL, whatsapp([interactive, listed, template]))
    await until(lambda: len(rasa.messages) == 3)
    assert rasa.texts == [payload, "/help", "/order_status"]


@pytest.mark.parametrize(
    "typed",
    [
        '/cancel_order{"order_id": "ORD-7F3K9Q"}',
        '/ /upload_receipt{"receipt_file": "shops/mama-put/receipts/incoming/1-ab.jpg"}',
        ' /upload_receipt{"receipt_file": "x"}',
        '\u00a0/confirm_order{"order_id": "ORD-7F3K9Q"}',
        "\u200b/affirm",
        "\t/\n /\u2003/deny",
        "//affirm",
    ],
)
async def test_typed_text_cannot_trigger_an_intent_directly(typed: str) -> None:
    """Whatever Rasa then strips, what it reads does not start with '/' (an intent)."""
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([wa_text(typed)]))
    await until(lambda: len(rasa.messages) == 1)
    as_rasa_reads_it = UserMessage(rasa.texts[0]).text
    assert as_rasa_reads_it and not as_rasa_reads_it.startswith("/")


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("reaction", {"reaction": {"message_id": "wamid.X", "emoji": "👍"}}),
        ("location", {"location": {"latitude": 6.45, "longitude": 3.39}}),
        ("sticker", {"sticker": {"id": "1", "mime_type": "image/webp", "sha256": "x"}}),
        ("audio", {"audio": {"id": "2", "mime_type": "audio/ogg"}}),
        ("video", {"video": {"id": "3", "mime_type": "video/mp4"}}),
        ("contacts", {"contacts": [{"name": {"formatted_name": "Bola"}}]}),
        ("unsupported", {"errors": [{"code": 131051, "title": "Message type unknown"}]}),
    ],
)
async def test_what_the_assistant_cannot_read_gets_the_help_answer(
    kind: str, content: dict[str, Any], graph: GraphDoubleThread
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    assert (await post(app, WA_URL, whatsapp([wa_message(kind, content)]))).status == 200
    await until(lambda: len(graph.sent()) == 1)
    assert rasa.texts == ["/help"]


async def test_malformed_payloads_are_acknowledged_without_crashing() -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    for payload in ({}, [], {"object": "whatsapp_business_account", "entry": "nope"}, None):
        assert (await post(app, WA_URL, payload)).status == 200
    body = b"{not json"
    headers = {"X-Hub-Signature-256": signature_header(APP_SECRET, body)}
    _, response = await app.asgi_client.post(WA_URL, content=body, headers=headers)
    assert response.status == 200
    assert rasa.messages == [] and inbox_rows() == []


async def test_a_body_nested_deeper_than_python_reads_is_acknowledged() -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    body = b"[" * 100_000 + b"]" * 100_000
    headers = {"X-Hub-Signature-256": signature_header(APP_SECRET, body)}
    _, response = await app.asgi_client.post(WA_URL, content=body, headers=headers)
    assert response.status == 200
    assert inbox_rows() == []


@pytest.mark.parametrize(
    "unstorable",
    [
        wa_text("my sender cannot be written to a database", sender="\ud800"),
        {**wa_text("sent in the year 3170843"), "timestamp": "99999999999999"},
    ],
    ids=["unpaired-surrogate-sender", "timestamp-past-9999"],
)
async def test_a_message_the_inbox_cannot_hold_is_skipped_and_the_batch_goes_through(
    unstorable: dict[str, Any],
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    response = await post(app, WA_URL, whatsapp([unstorable, wa_text("and mine?")]))
    assert response.status == 200
    await until(lambda: [r.state for r in inbox_rows()] == ["done"])
    assert rasa.texts == ["and mine?"]


# Statuses and sending


async def test_statuses_are_joined_to_our_messages_and_never_reach_rasa(
    graph: GraphDoubleThread,
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([wa_text("hi")]))
    await until(lambda: len(graph.sent()) == 1)
    wamid = graph.sent()[0]["id"]

    await post(app, WA_URL, whatsapp(statuses=[wa_status(wamid, "delivered")]))
    await post(app, WA_URL, whatsapp(statuses=[wa_status(wamid, "failed", error_code=131047)]))
    await post(app, WA_URL, whatsapp(statuses=[wa_status(wamid, "read")]))
    [row] = outbound_rows()
    assert (row.status, row.error_code) == ("failed", 131047)
    assert rasa.texts == ["hi"]


async def test_an_error_code_no_integer_column_holds_is_recorded_without_it(
    graph: GraphDoubleThread,
) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([wa_text("hi")]))
    await until(lambda: len(outbound_rows()) == 1)
    failed = wa_status(graph.sent()[0]["id"], "failed", error_code=2**64)
    assert (await post(app, WA_URL, whatsapp(statuses=[failed]))).status == 200
    [row] = outbound_rows()
    assert (row.status, row.error_code, row.error_title) == (
        "failed",
        None,
        "Re-engagement message",
    )


async def test_throttling_is_retried_and_the_reply_sent_once(graph: GraphDoubleThread) -> None:
    graph.fail_next(130429, 429)
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([wa_text("hi")]))
    await until(lambda: len(outbound_rows()) == 1)
    delivered = [s for s in graph.sent() if s["status"] == 200]
    assert len(delivered) == 1
    assert outbound_rows()[0].platform_message_id == delivered[0]["id"]


async def test_a_closed_window_is_recorded_and_not_retried(graph: GraphDoubleThread) -> None:
    graph.fail_next(131047, 400, times=5)
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([wa_text("hi")]))
    await until(lambda: len(outbound_rows()) == 1)
    [row] = outbound_rows()
    assert (row.status, row.error_code, row.platform_message_id) == ("failed", 131047, None)
    assert len(graph.sent()) == 1


# Turns that fail


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "TURN_RETRY_DELAYS", (0.05, 0.05, 0.05))


async def test_a_turn_that_sent_no_reply_is_tried_again_and_answered_once(
    graph: GraphDoubleThread, quick_retries: None
) -> None:
    rasa = SilentRasa(silent=2)
    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([wa_text("hi")]))
    await until(lambda: [r.state for r in inbox_rows()] == ["done"])
    assert rasa.texts == ["hi", "hi", "hi"]
    assert [s["body"]["text"]["body"] for s in graph.sent()] == ["got: hi"]


@pytest.mark.parametrize("tone", ["friendly", "casual"])
async def test_a_turn_that_never_replies_gets_an_apology_and_is_marked_failed(
    graph: GraphDoubleThread, quick_retries: None, tone: str
) -> None:
    configure("mama-put", tone=tone)
    rasa = SilentRasa(silent=100)
    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([wa_text("hi")]))
    await until(lambda: [r.state for r in inbox_rows()] == ["failed"])
    assert len(rasa.messages) == 1 + len(turns.TURN_RETRY_DELAYS)
    [apology] = graph.sent()
    assert apology["body"]["to"] == BUYER
    assert apology["body"]["text"]["body"] == worded(turns.NO_REPLY, tone)
    assert [r.platform_message_id for r in outbound_rows()] == [apology["id"]]
    assert inbox_rows()[0].error == "no reply"


async def test_a_turn_that_raises_is_tried_again(
    graph: GraphDoubleThread, quick_retries: None
) -> None:
    calls: list[str] = []

    async def rasa(message: UserMessage) -> None:
        calls.append(message.text)
        if len(calls) == 1:
            raise ConnectionError("tracker store unavailable")
        await message.output_channel.send_text_message(message.sender_id, "back")

    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([wa_text("hi")]))
    await until(lambda: [r.state for r in inbox_rows()] == ["done"])
    assert calls == ["hi", "hi"]
    assert [s["body"]["text"]["body"] for s in graph.sent()] == ["back"]


async def test_a_burst_of_new_buyers_runs_a_bounded_number_of_turns_at_once(
    graph: GraphDoubleThread,
) -> None:
    rasa = SlowRasa()
    app = app_for(WhatsAppInput, rasa)
    buyers = [f"23480{n:08d}" for n in range(40)]
    batch = [wa_text(f"hi {n}", sender=buyer) for n, buyer in enumerate(buyers)]
    assert (await post(app, WA_URL, whatsapp(batch))).status == 200
    await until(lambda: len(graph.sent()) == len(buyers))
    assert 1 < rasa.most_in_flight <= turns.MAX_TURNS_IN_FLIGHT
    assert sorted(s["body"]["to"] for s in graph.sent()) == sorted(buyers)


# Stale messages, after an outage


def apologies(graph: GraphDoubleThread) -> list[tuple[str, str]]:
    return [(s["body"]["to"], s["body"]["text"]["body"]) for s in graph.sent()]


async def test_a_stale_backlog_gets_each_buyer_one_apology_and_no_turn(
    graph: GraphDoubleThread,
) -> None:
    other = "2348099990000"
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    backlog = [wa_text(f"hello {n}?", age=3 * HOUR - 60 * n) for n in range(50)]
    backlog += [wa_text("anyone?", sender=other, age=2 * HOUR)]
    assert (await post(app, WA_URL, whatsapp(backlog))).status == 200
    await until(lambda: [r.state for r in inbox_rows()] == ["stale"] * 51)
    await until(lambda: len(outbound_rows()) == 2)
    # Meta redelivers more of the same outage later: still one each.
    await post(app, WA_URL, whatsapp([wa_text("hello again?", age=2 * HOUR)]))
    await until(lambda: len(inbox_rows()) == 52 and inbox_rows()[-1].state == "stale")

    missed = worded(MISSED_MESSAGES)
    assert sorted(apologies(graph)) == [(BUYER, missed), (other, missed)]
    assert rasa.messages == []
    assert {r.platform_message_id for r in outbound_rows()} == {s["id"] for s in graph.sent()}


async def test_another_outage_gets_another_apology(graph: GraphDoubleThread) -> None:
    app = app_for(WhatsAppInput, RasaStandIn())
    await post(app, WA_URL, whatsapp([wa_text("hello?", age=6 * HOUR)]))
    await until(lambda: len(graph.sent()) == 1)
    # That outage ended four hours ago; the next one leaves another backlog.
    with db.session_scope() as session:
        session.execute(
            sa.update(InboxMessage).values(finished_at=utcnow() - dt.timedelta(hours=4))
        )
    await post(app, WA_URL, whatsapp([wa_text("still there?", age=2 * HOUR)]))
    await until(lambda: len(graph.sent()) == 2)
    assert apologies(graph) == [(BUYER, worded(MISSED_MESSAGES))] * 2


async def test_no_apology_once_the_customer_service_window_closed(
    graph: GraphDoubleThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connectors.meta.input")
    app = app_for(InstagramInput, RasaStandIn())
    old = ig_event({"text": "hello?"})
    old["timestamp"] -= 25 * HOUR * 1000
    await post(app, IG_URL, instagram([old]))
    await until(lambda: [r.state for r in inbox_rows()] == ["stale"])
    await asyncio.sleep(0.2)
    assert graph.sent() == [] and outbound_rows() == []
    [skipped] = [r for r in caplog.records if r.msg == "stale message recorded and skipped"]
    assert skipped.apology == "customer service window closed"


@pytest.mark.parametrize("tone", ["professional", "casual"])
async def test_the_apology_is_in_the_shops_tone_and_words(graph: GraphDoubleThread, tone) -> None:
    configure("mama-put", tone=tone)
    own = "{shop_name} was closed for a bit. Please send your messages again!"
    saved = import_responses("iya-basket", {"responses": {MISSED_MESSAGES: [{"text": own}]}})
    assert saved == [MISSED_MESSAGES]
    app = app_for(WhatsAppInput, RasaStandIn())
    await post(app, WA_URL, whatsapp([wa_text("hello?", age=2 * HOUR)]))
    await post(
        app,
        WA_URL,
        whatsapp([wa_text("hello?", age=2 * HOUR)], phone_number_id=OTHER_PHONE_NUMBER_ID),
    )
    await until(lambda: len(graph.sent()) == 2)
    by_shop = {s["account_id"]: s["body"]["text"]["body"] for s in graph.sent()}
    assert by_shop == {
        PHONE_NUMBER_ID: worded(MISSED_MESSAGES, tone),
        OTHER_PHONE_NUMBER_ID: "Iya Basket was closed for a bit. Please send your messages again!",
    }


async def test_the_apology_is_not_sent_again_after_a_restart(graph: GraphDoubleThread) -> None:
    await post(
        app_for(WhatsAppInput, RasaStandIn()), WA_URL, whatsapp([wa_text("hi?", age=HOUR * 3)])
    )
    await until(lambda: len(graph.sent()) == 1)
    # Acknowledged in the same outage, still waiting when the server stopped.
    waiting = wa_text("hello?", age=2 * HOUR)
    messages, _ = WhatsAppInput.from_credentials(None).parse(whatsapp([waiting]))
    inbox.store_webhook("whatsapp", messages, [])

    restarted = app_for(WhatsAppInput, RasaStandIn())
    _, response = await restarted.asgi_client.get("/webhooks/whatsapp/")
    assert response.status == 200
    await until(lambda: [r.state for r in inbox_rows()] == ["stale", "stale"])
    await asyncio.sleep(0.2)
    assert len(graph.sent()) == 1


async def test_the_server_prunes_the_inbox_when_it_starts(graph: GraphDoubleThread) -> None:
    app = app_for(WhatsAppInput, RasaStandIn())
    await post(app, WA_URL, whatsapp([wa_text("last month"), wa_text("today")]))
    await until(lambda: len(outbound_rows()) == 2)
    old, recent = inbox_rows()
    month_ago = utcnow() - dt.timedelta(days=31)
    with db.session_scope() as session:
        session.execute(
            sa.update(InboxMessage).where(InboxMessage.id == old.id).values(received_at=month_ago)
        )
        session.execute(
            sa.update(OutboundMessage)
            .where(OutboundMessage.id == min(r.id for r in outbound_rows()))
            .values(created_at=month_ago)
        )

    restarted = app_for(WhatsAppInput, RasaStandIn())
    _, response = await restarted.asgi_client.get("/webhooks/whatsapp/")
    assert response.status == 200
    assert [r.id for r in inbox_rows()] == [recent.id]
    assert len(outbound_rows()) == 1


# Restart and receipts


async def test_a_shop_without_a_token_records_one_failed_send_and_runs_the_turn_once(
    graph: GraphDoubleThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing can be sent, so nothing is retried (the actions would run again): the failure is
    recorded once with its reason, audited, and shown by `shop show`."""
    monkeypatch.delenv("WHATSAPP_ACCESS_TOKEN")
    rasa = TwoReplies()
    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([wa_text("register")]))
    await until(lambda: [r.state for r in inbox_rows()] == ["done"])
    assert len(rasa.messages) == 1 and graph.sent() == []
    (failed,) = outbound_rows()
    assert (failed.status, failed.error_title) == ("failed", "no token to send with")
    with db.session_scope() as session:
        audited = session.execute(sa.select(AuditEvent.action, AuditEvent.detail)).all()
    assert audited == [
        ("buyer.registered", {"channel": "whatsapp"}),
        ("reply.unsendable", {"channel": "whatsapp", "reason": "no token to send with"}),
    ]
    with db.session_scope() as session:
        failures = inbox.recent_failures(session, "mama-put", utcnow() - dt.timedelta(hours=1))
    assert failures == [("whatsapp", "no token to send with", 1)]


class TwoReplies(RasaStandIn):
    """A turn that answers with two messages, as many of the assistant's do."""

    async def __call__(self, message: UserMessage) -> None:
        await super().__call__(message)
        await message.output_channel.send_text_message(message.sender_id, "and another")


async def test_a_webhook_the_database_cannot_take_is_not_acknowledged(
    graph: GraphDoubleThread, caplog: pytest.LogCaptureFixture
) -> None:
    """Meta gets a 503 and delivers again, never a 200 for a message that was not stored."""
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    with db.engine_for(get_settings().database_url).begin() as connection:
        connection.execute(sa.text("ALTER TABLE channel_accounts RENAME TO accounts_away"))
    response = await post(app, WA_URL, whatsapp([wa_text("my code is K7#M@P2Q")]))
    assert response.status == 503
    with db.engine_for(get_settings().database_url).begin() as connection:
        connection.execute(sa.text("ALTER TABLE accounts_away RENAME TO channel_accounts"))
    assert inbox_rows() == [] and rasa.messages == [] and graph.sent() == []
    assert "K7#M@P2Q" not in caplog.text and "webhook not stored" in caplog.text

    again = await post(app, WA_URL, whatsapp([wa_text("hi again")]))
    assert again.status == 200
    await until(lambda: rasa.texts == ["hi again"])


async def test_messages_acknowledged_before_a_restart_are_processed_on_start(
    graph: GraphDoubleThread,
) -> None:
    with db.session_scope() as session:
        inbox.accept(
            session,
            shop_id="mama-put",
            channel="whatsapp",
            account_id=PHONE_NUMBER_ID,
            platform_message_id="wamid.before-restart",
            sender=BUYER,
            message=InboundMessage(
                channel="whatsapp",
                account_id=PHONE_NUMBER_ID,
                sender=BUYER,
                message_id="wamid.before-restart",
                timestamp=time.time(),
                kind="text",
                original_type="text",
                text="are you there?",
            ).__dict__,
            sent_at=utcnow(),
        )
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    _, response = await app.asgi_client.get("/webhooks/whatsapp/")
    assert response.status == 200
    await until(lambda: rasa.texts == ["are you there?"])
    await until(lambda: [r.state for r in inbox_rows()] == ["done"])


async def test_a_message_taken_over_is_answered_unless_its_reply_went_out(
    graph: GraphDoubleThread,
) -> None:
    """A server died mid-turn: its messages are taken over once their lease ran out; the one
    whose reply had gone out is not run again (its actions would repeat)."""
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    body = whatsapp([wa_text("replied before the crash"), wa_text("never answered", sender=OTHER)])
    with db.session_scope() as session:
        ids = inbox.store_webhook("whatsapp", *parse_whatsapp(body))
        session.execute(
            sa.update(InboxMessage).values(
                state="processing",
                claimed_by="dead-server",
                lease_until=utcnow() - dt.timedelta(seconds=1),
                attempts=1,
            )
        )
        session.execute(
            sa.update(InboxMessage).where(InboxMessage.id == ids[0][0]).values(replied_at=utcnow())
        )
    _, response = await app.asgi_client.get("/webhooks/whatsapp/")
    assert response.status == 200
    await until(lambda: [r.state for r in inbox_rows()] == ["done", "done"])
    assert rasa.texts == ["never answered"]
    assert [s["body"]["to"] for s in graph.sent()] == [OTHER]
    assert [r.attempts for r in inbox_rows()] == [2, 2]


def given_role(monkeypatch: pytest.MonkeyPatch, role: str) -> None:
    monkeypatch.setenv("TRUSTGUARD_ROLE", role)
    get_settings.cache_clear()


async def test_an_acknowledging_server_runs_no_turn_and_a_turn_server_answers(
    graph: GraphDoubleThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_role(monkeypatch, "ingest")
    ingest_rasa = RasaStandIn()
    ingest = app_for(WhatsAppInput, ingest_rasa)
    assert (await post(ingest, WA_URL, whatsapp([wa_text("hi")]))).status == 200
    assert [r.state for r in inbox_rows()] == ["received"]
    assert ingest_rasa.messages == [] and graph.sent() == []

    given_role(monkeypatch, "turns")
    rasa = RasaStandIn()
    turns_server = app_for(WhatsAppInput, rasa)
    # Meta's webhooks are not for it.
    refused = await post(turns_server, WA_URL, whatsapp([wa_text("again")]))
    assert refused.status in (404, 405)
    await until(lambda: rasa.texts == ["hi"])
    await until(lambda: [r.state for r in inbox_rows()] == ["done"])
    assert [s["body"]["text"]["body"] for s in graph.sent()] == ["got: hi"]


async def test_a_photo_receipt_is_downloaded_checked_and_stored(
    graph: GraphDoubleThread, s3
) -> None:
    media_id = graph.add_media(JPEG, "image/jpeg")
    photo = wa_photo(media_id, JPEG, caption="my transfer")
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([photo]))
    await until(lambda: len(rasa.messages) == 1)
    text = rasa.texts[0]
    assert text.startswith("/upload_receipt")
    key = json.loads(text[len("/upload_receipt") :])["receipt_file"]
    assert key.startswith("shops/mama-put/receipts/incoming/")
    stored = s3.get_object(Bucket="test-receipts", Key=key)
    assert stored["Body"].read() == JPEG
    assert stored["ContentType"] == "image/jpeg"


@pytest.mark.parametrize(
    ("content", "declared", "problem"),
    [
        (b"GIF89a-not-a-receipt", None, "wrong_type"),
        (JPEG, "0" * 64, "unreadable"),
    ],
)
async def test_a_bad_receipt_is_reported_not_stored(
    graph: GraphDoubleThread, s3, content: bytes, declared: str | None, problem: str
) -> None:
    media_id = graph.add_media(content, "image/jpeg")
    image: dict[str, Any] = {"id": media_id, "mime_type": "image/jpeg"}
    if declared:
        image["sha256"] = declared
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    await post(app, WA_URL, whatsapp([wa_message("image", {"image": image})]))
    await until(lambda: len(rasa.messages) == 1)
    assert json.loads(rasa.texts[0][len("/upload_receipt") :]) == {"receipt_problem": problem}
    assert s3.list_objects_v2(Bucket="test-receipts").get("KeyCount") == 0


async def test_a_receipt_whose_media_is_gone_is_reported(graph: GraphDoubleThread, s3) -> None:
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)
    gone = wa_message("document", {"document": {"id": "404404", "mime_type": "application/pdf"}})
    await post(app, WA_URL, whatsapp([gone]))
    await until(lambda: len(rasa.messages) == 1)
    assert json.loads(rasa.texts[0][len("/upload_receipt") :]) == {"receipt_problem": "unreadable"}


def receipt_problem_of(rasa: RasaStandIn) -> str:
    return json.loads(rasa.texts[0][len("/upload_receipt") :])["receipt_problem"]


@pytest.fixture
def elsewhere() -> Iterator[GraphDoubleThread]:
    """A second double on another port: another origin, which no media may come from."""
    with GraphDoubleThread() as double:
        yield double


async def test_a_whatsapp_media_url_off_metas_hosts_is_refused_and_gets_no_token(
    graph: GraphDoubleThread, elsewhere: GraphDoubleThread, s3, caplog
) -> None:
    elsewhere.add_media(JPEG, "image/jpeg", media_id="stolen")
    url = f"{elsewhere.url}/__media/stolen?sig=secret-query"
    media_id = graph.add_media(JPEG, "image/jpeg", url=url)
    rasa = RasaStandIn()
    app = app_for(WhatsAppInput, rasa)

    await post(app, WA_URL, whatsapp([wa_photo(media_id, JPEG)]))
    await until(lambda: len(rasa.messages) == 1)

    assert receipt_problem_of(rasa) == "unreadable"
    assert elsewhere.downloads() == []
    assert s3.list_objects_v2(Bucket="test-receipts").get("KeyCount") == 0
    [refused] = [r for r in caplog.records if r.getMessage().startswith("receipt url refused")]
    assert refused.host == "127.0.0.1"
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "secret-query" not in logged and "/__media/stolen" not in logged


async def test_an_instagram_attachment_off_metas_hosts_is_refused(
    elsewhere: GraphDoubleThread, s3
) -> None:
    elsewhere.add_media(JPEG, "image/jpeg", media_id="cdn-1", public=True)
    rasa = RasaStandIn()
    app = app_for(InstagramInput, rasa)

    for url in (f"{elsewhere.url}/__files/cdn-1", "file:///etc/passwd", "not a url"):
        attachment = ig_event({"attachments": [{"type": "image", "payload": {"url": url}}]})
        await post(app, IG_URL, instagram([attachment]))
    await until(lambda: len(rasa.messages) == 3)

    assert [json.loads(t[len("/upload_receipt") :]) for t in rasa.texts] == [
        {"receipt_problem": "unreadable"}
    ] * 3
    assert elsewhere.downloads() == []
    assert s3.list_objects_v2(Bucket="test-receipts").get("KeyCount") == 0


async def test_a_redirect_is_followed_on_metas_hosts_only(
    graph: GraphDoubleThread, elsewhere: GraphDoubleThread, s3
) -> None:
    graph.add_media(JPEG, "image/jpeg", media_id="cdn-1", public=True)
    elsewhere.add_media(JPEG, "image/jpeg", media_id="cdn-2", public=True)
    rasa = RasaStandIn()
    app = app_for(InstagramInput, rasa)

    for target in (f"{graph.url}/__files/cdn-1", f"{elsewhere.url}/__files/cdn-2"):
        url = f"{graph.url}/__redirect?to={quote(target, safe='')}"
        attachment = ig_event({"attachments": [{"type": "image", "payload": {"url": url}}]})
        await post(app, IG_URL, instagram([attachment]))
    await until(lambda: len(rasa.messages) == 2)

    outcomes = [json.loads(t[len("/upload_receipt") :]) for t in rasa.texts]
    assert "receipt_file" in outcomes[0] and outcomes[1] == {"receipt_problem": "unreadable"}
    assert [d["media_id"] for d in graph.downloads()] == ["cdn-1"]
    assert elsewhere.downloads() == []


# Instagram


async def test_instagram_text_quick_replies_and_postbacks(graph: GraphDoubleThread) -> None:
    rasa = RasaStandIn()
    app = app_for(InstagramInput, rasa)
    quick = ig_event({"text": "Yes, cancel it", "quick_reply": {"payload": "/affirm"}})
    postback = {
        "sender": {"id": "IGSID-1"},
        "recipient": {"id": IG_ACCOUNT_ID},
        "timestamp": int(time.time() * 1000),
        "postback": {"mid": "aWdfpostback1", "title": "Help", "payload": "/help"},
    }
    payload = instagram([ig_event({"text": "hi"}), quick, postback])
    assert (await post(app, IG_URL, payload)).status == 200
    await until(lambda: len(graph.sent()) == 3)
    assert rasa.texts == ["hi", "/affirm", "/help"]
    assert rasa.messages[0].sender_id == "mama-put:instagram:IGSID-1"
    send = graph.sent()[0]
    assert send["account_id"] == IG_ACCOUNT_ID
    assert send["body"] == {"recipient": {"id": "IGSID-1"}, "message": {"text": "got: hi"}}


async def test_instagram_echoes_and_read_receipts_are_dropped(graph: GraphDoubleThread) -> None:
    rasa = RasaStandIn()
    app = app_for(InstagramInput, rasa)
    read = {
        "sender": {"id": "IGSID-1"},
        "recipient": {"id": IG_ACCOUNT_ID},
        "timestamp": int(time.time() * 1000),
        "read": {"mid": "aWdfread"},
    }
    payload = instagram([ig_event({"text": "our own reply"}, echo=True), read])
    assert (await post(app, IG_URL, payload)).status == 200
    await asyncio.sleep(0.2)
    assert rasa.messages == [] and inbox_rows() == [] and graph.sent() == []


async def test_instagram_attachment_receipt_is_fetched_without_the_shop_token(
    graph: GraphDoubleThread, s3
) -> None:
    graph.add_media(JPEG, "image/jpeg", media_id="cdn-1", public=True)
    url = f"{graph.url}/__files/cdn-1"
    rasa = RasaStandIn()
    app = app_for(InstagramInput, rasa)
    attachment = ig_event({"attachments": [{"type": "image", "payload": {"url": url}}]})
    await post(app, IG_URL, instagram([attachment]))
    await until(lambda: len(rasa.messages) == 1)
    key = json.loads(rasa.texts[0][len("/upload_receipt") :])["receipt_file"]
    assert s3.get_object(Bucket="test-receipts", Key=key)["Body"].read() == JPEG


async def test_an_instagram_attachment_whose_url_is_not_a_url_is_an_unreadable_receipt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rasa = RasaStandIn()
    app = app_for(InstagramInput, rasa)
    attachment = ig_attachment("image", "receipt.jpg")
    assert (await post(app, IG_URL, instagram([attachment]))).status == 200
    await until(lambda: [r.state for r in inbox_rows()] == ["done"])
    assert json.loads(rasa.texts[0][len("/upload_receipt") :]) == {"receipt_problem": "unreadable"}
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_both_channels_share_one_bound_on_turns_in_flight(graph: GraphDoubleThread) -> None:
    """One turn loop per process: bursts on WhatsApp and Instagram at once still run at most
    MAX_TURNS_IN_FLIGHT turns together (one loop per channel allowed twice as many)."""
    rasa = SlowRasa()
    apps = (app_for(WhatsAppInput, rasa), app_for(InstagramInput, rasa))
    wa_buyers = [f"23480{n:08d}" for n in range(24)]
    ig_buyers = [f"IGSID-{n}" for n in range(24)]
    wa_batch = whatsapp([wa_text(f"hi {n}", sender=b) for n, b in enumerate(wa_buyers)])
    ig_batch = instagram([ig_event({"text": f"hi {n}"}, sender=b) for n, b in enumerate(ig_buyers)])
    answers = await asyncio.gather(post(apps[0], WA_URL, wa_batch), post(apps[1], IG_URL, ig_batch))
    assert [response.status for response in answers] == [200, 200]
    await until(lambda: len(graph.sent()) == len(wa_buyers) + len(ig_buyers))
    assert len(wa_buyers) > turns.MAX_TURNS_IN_FLIGHT
    assert 1 < rasa.most_in_flight <= turns.MAX_TURNS_IN_FLIGHT
