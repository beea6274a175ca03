"""Proving a phone number from any chat: a code sent to the number on WhatsApp (the shop's
authentication template, sent to the Graph API double), typed back where it was asked for."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import time_machine

from actions.phone import ActionLinkPhone
from actions.status import ActionOrderStatus
from actions.verification import ActionVerifyCode
from bot.meta.outbound import ASK_FOR_PHONE
from bot.meta.webhooks import WhatsAppUser
from bot.meta.whatsapp_users import identity_of_sender
from bot.platform import db
from bot.platform.models import AuditEvent, Buyer, OutboundMessage
from bot.platform.settings import get_settings
from bot.shop import buyers, orders, shops
from bot.shop.codes import issue_code
from bot.shop.profile import CodeTemplate, update_settings
from devtools.graph_double import GraphDoubleThread
from tests.actions.helpers import responses, run_action
from tests.conftest import OTP_SECRET as OTP
from tests.conftest import make_buyer, tracker_for

PHONE_NUMBER_ID = "106540352242922"
NUMBER = "0803 123 4567"
PHONE = "+2348031234567"
TEMPLATE = "trustguard_code"


@pytest.fixture(autouse=True)
def shop_on_whatsapp(monkeypatch: pytest.MonkeyPatch, graph: GraphDoubleThread) -> None:
    monkeypatch.setenv("GRAPH_API_URL", graph.url)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "test-whatsapp-token")
    get_settings.cache_clear()
    with db.session_scope() as session:
        shop = shops.add_shop(session, "mama-put", "Mama Put", whatsapp_phone_id=PHONE_NUMBER_ID)
        update_settings(shop, code_template=CodeTemplate(TEMPLATE, "en"))


def order_for_phone(phone: str = PHONE) -> str:
    with db.session_scope() as session:
        holder, _ = buyers.buyer_for_phone(session, "mama-put", phone)
        return orders.create_order(session, holder, 2_500_000, "Ankara, 6 yards").id


def link(user: str, typed: str | None = NUMBER, **tracker) -> tuple[list, list]:
    entities = {"phone_number": typed} if typed else {}
    text = f"link my number {typed or ''}".strip()
    return run_action(
        ActionLinkPhone(),
        tracker_for(user, text, intent="link_phone", entities=entities, **tracker),
    )


def sent_code(graph: GraphDoubleThread) -> str:
    (send,) = [s for s in graph.sent() if s["body"].get("type") == "template"]
    return send["body"]["template"]["components"][0]["parameters"][0]["text"]


async def verify(user: str, code: str, **tracker) -> list[str]:
    tracker_ = tracker_for(
        user, f"verify {code}", intent="verify_otp", entities={"otp_code": code}, **tracker
    )
    messages, _ = await run_action(ActionVerifyCode(), tracker_)
    return responses(messages)


async def test_a_code_sent_to_the_number_and_typed_back_makes_its_orders_the_buyers(graph):
    order_id = order_for_phone()
    make_buyer("mama-put", "ada", verified=True)
    messages, _ = await link("ada")
    assert responses(messages) == ["utter_phone_code_sent"]
    assert messages[0]["phone"] == "***4567"
    (send,) = graph.sent()
    body = send["body"]
    assert (send["account_id"], body["to"], "recipient" in body) == (
        PHONE_NUMBER_ID,
        "2348031234567",
        False,
    )
    assert body["template"]["name"] == TEMPLATE
    code = sent_code(graph)
    assert code not in str(messages)

    assert await verify("ada", code) == ["utter_phone_linked"]
    status, _ = await run_action(
        ActionOrderStatus(), tracker_for("ada", "my order", intent="order_status")
    )
    assert responses(status) == ["utter_order_status"]
    assert status[0]["order_id"] == order_id
    with db.session_scope() as session:
        buyer = buyers.find_buyer(session, "mama-put", "rest", "ada")
        assert (buyer.phone, buyer.phone_verified_at is not None) == (PHONE, True)
        assert session.execute(sa.select(sa.func.count(Buyer.id))).scalar_one() == 1
        audited = [a for (a,) in session.execute(sa.select(AuditEvent.action))]
    assert "code.sent_to_phone" in audited and "buyer.phone_proven" in audited


async def test_a_wrong_code_binds_nothing(graph):
    order_for_phone()
    make_buyer("mama-put", "ada", verified=True)
    await link("ada")
    assert await verify("ada", "ZZZZ#22Z") == ["utter_code_wrong"]
    with db.session_scope() as session:
        assert buyers.find_buyer(session, "mama-put", "rest", "ada").phone is None


async def test_a_number_that_is_not_one_is_refused_and_nothing_is_sent(graph):
    make_buyer("mama-put", "ada")
    messages, _ = await link("ada", "0803 123 45")
    assert responses(messages) == ["utter_phone_invalid"]
    assert graph.sent() == []


async def test_a_shop_without_a_code_template_says_so(graph):
    with db.session_scope() as session:
        shops.get_shop(session, "mama-put").settings = {}
    make_buyer("mama-put", "ada")
    messages, _ = await link("ada")
    assert responses(messages) == ["utter_phone_link_unavailable"]
    assert graph.sent() == []


async def test_a_code_meta_refuses_is_reported_and_recorded(graph):
    graph.fail_next(code=131026, http_status=400)
    make_buyer("mama-put", "ada")
    messages, _ = await link("ada")
    assert responses(messages) == ["utter_phone_code_not_sent"]
    with db.session_scope() as session:
        failed = session.execute(sa.select(OutboundMessage)).scalar_one()
    assert (failed.status, failed.error_code, failed.recipient) == ("failed", 131026, "***4567")


async def test_codes_to_numbers_have_their_own_resend_interval_and_share_the_hourly_limit(graph):
    """Just verified in the chat, a buyer may link a number at once; a second number within the
    minute waits, and chat codes and number codes together stop at five an hour."""
    make_buyer("mama-put", "ada")
    with db.session_scope() as session:
        issue_code(
            session, buyers.find_buyer(session, "mama-put", "rest", "ada"), key=OTP, ttl_seconds=300
        )
    first, _ = await link("ada")
    assert responses(first) == ["utter_phone_code_sent"]
    messages, _ = await link("ada", "0802 555 0199")
    assert responses(messages) == ["utter_code_recently_sent"]
    assert len(graph.sent()) == 1
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)):
        second, _ = await link("ada", "0802 555 0199")
    assert responses(second) == ["utter_phone_code_sent"]


async def test_a_linked_number_is_said_to_be_linked(graph):
    make_buyer("mama-put", "ada")
    with db.session_scope() as session:
        buyers.prove_phone(session, buyers.find_buyer(session, "mama-put", "rest", "ada"), PHONE)
    messages, _ = await link("ada")
    assert responses(messages) == ["utter_phone_already_linked"]
    messages, _ = await link("ada", None)
    assert responses(messages) == ["utter_phone_linked"]
    assert graph.sent() == []


async def test_without_a_number_a_phone_less_whatsapp_buyer_also_gets_the_share_button(graph):
    bsuid = "NG.8462019375510"
    with db.session_scope() as session:
        identity_of_sender(session, "mama-put", WhatsAppUser(None, bsuid), "Ada")
    messages, _ = await link(bsuid, None, channel="whatsapp")
    assert responses(messages) == ["utter_ask_phone"]
    assert messages[0]["custom"] == {ASK_FOR_PHONE: True}
    make_buyer("mama-put", "ada")
    rest, _ = await link("ada", None)
    assert responses(rest) == ["utter_ask_phone"] and not rest[0].get("custom")


async def test_a_verified_buyer_with_no_code_pending_is_already_verified(graph):
    make_buyer("mama-put", "ada", verified=True)
    assert await verify("ada", "K7#M@P2Q") == ["utter_already_verified"]


async def test_a_buyer_with_no_order_and_no_number_is_told_how_to_link_one(graph):
    make_buyer("mama-put", "ada", verified=True)
    messages, _ = await run_action(
        ActionOrderStatus(), tracker_for("ada", "my order", intent="order_status")
    )
    assert responses(messages) == ["utter_no_orders", "utter_link_phone_hint"]
