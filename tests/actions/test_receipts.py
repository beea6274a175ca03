"""Receipts through the action: a link to the upload page on every channel, and receipts sent
in the chat attached to one order of their own sender, once."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from actions.receipts import ActionReceiptUpload
from bot.platform import db
from bot.platform.models import AuditEvent, InboxMessage, Receipt, UploadLink, utcnow
from bot.shop import orders
from bot.shop.buyers import find_buyer
from bot.shop.receipts import store_chat_receipt
from tests.actions.helpers import make_order, responses, run_action
from tests.conftest import make_buyer, make_shop, tracker_for

PDF = b"%PDF-1.4 transfer"


def chat_receipt(user_id: str, content: bytes = PDF, channel: str = "whatsapp") -> str:
    """A receipt as the channel stores it before the assistant sees it: sent by ``user_id``."""
    with db.session_scope() as session:
        message = InboxMessage(
            shop_id="mama-put",
            channel=channel,
            account_id="100",
            platform_message_id=f"wamid.{uuid.uuid4().hex}",
            sender=user_id,
            message={},
            sent_at=utcnow(),
        )
        session.add(message)
        session.flush()
        inbox_id = message.id
    return store_chat_receipt("mama-put", inbox_id, content, "application/pdf")


def whatsapp_order(user_id: str, amount_kobo: int = 500_000) -> str:
    with db.session_scope() as session:
        buyer = find_buyer(session, "mama-put", "whatsapp", user_id)
        return orders.create_order(session, buyer, amount_kobo, "Lace").id


def link_token(text: str) -> str:
    url = re.search(r"http://\S+", text).group(0)
    assert urlsplit(url).path == "/webhooks/receipts/upload"
    return parse_qs(urlsplit(url).query)["t"][0]


async def test_upload_on_rest_gives_a_link_to_the_upload_page() -> None:
    make_shop()
    make_buyer("mama-put", "ada", verified=True)
    order_id = make_order("mama-put", "ada")
    messages, _ = await run_action(ActionReceiptUpload(), tracker_for("ada", "upload"))
    assert responses(messages) == ["utter_upload_link"]
    assert messages[0]["order_id"] == order_id and messages[0]["minutes"] == 10
    assert messages[0]["amount"] == "₦25,000.00"
    token = link_token(messages[0]["upload_url"])
    assert len(token) >= 22  # 128 random bits

    with db.session_scope() as session:
        link = session.execute(sa.select(UploadLink)).scalar_one()
        # Only a hash of the token is kept: the database holds no usable link.
        assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps([link.token_hash, link.conversation_key])
        assert (link.order_id, link.channel, link.conversation_key) == (order_id, "rest", "ada")
        assert link.used_at is None
        assert 9 * 60 < (link.expires_at - utcnow()).total_seconds() <= 10 * 60
        audit = session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "receipt.upload_link_issued")
        ).scalar_one()
        assert audit.detail == {"order_id": order_id}


async def test_the_link_follows_public_base_url(monkeypatch) -> None:
    from bot.platform.settings import get_settings

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bot.example.com/")
    get_settings.cache_clear()
    make_shop()
    make_buyer("mama-put", "ada", verified=True)
    make_order("mama-put", "ada")
    messages, _ = await run_action(ActionReceiptUpload(), tracker_for("ada", "upload"))
    assert messages[0]["upload_url"].startswith(
        "https://bot.example.com/webhooks/receipts/upload?t="
    )


async def test_on_whatsapp_upload_offers_the_chat_and_a_link() -> None:
    make_shop()
    make_buyer("mama-put", "2348031234567", channel="whatsapp", verified=True)
    order_id = whatsapp_order("2348031234567")
    tracker = tracker_for("2348031234567", "upload", channel="whatsapp")
    messages, _ = await run_action(ActionReceiptUpload(), tracker)
    assert responses(messages) == ["utter_receipt_send_here"]
    assert messages[0]["order_id"] == order_id
    link_token(messages[0]["upload_url"])
    with db.session_scope() as session:
        link = session.execute(sa.select(UploadLink)).scalar_one()
        assert (link.channel, link.conversation_key) == ("whatsapp", "2348031234567")
        assert session.execute(sa.select(Receipt)).first() is None


async def test_several_open_orders_ask_which_and_no_orders_says_so() -> None:
    make_shop()
    make_buyer("mama-put", "ada", verified=True)
    messages, _ = await run_action(ActionReceiptUpload(), tracker_for("ada", "upload"))
    assert responses(messages) == ["utter_no_open_orders", "utter_link_phone_hint"]
    first, second = make_order("mama-put", "ada"), make_order("mama-put", "ada")
    messages, _ = await run_action(ActionReceiptUpload(), tracker_for("ada", "upload"))
    assert responses(messages) == ["utter_choose_order_for_upload"]
    assert {b["payload"] for b in messages[0]["buttons"]} == {
        f'/upload_receipt{{"order_id": "{first}"}}',
        f'/upload_receipt{{"order_id": "{second}"}}',
    }


async def test_a_receipt_sent_in_the_chat_is_attached_to_the_only_open_order_and_checked() -> None:
    make_shop()
    make_buyer("mama-put", "ada", channel="whatsapp", verified=True)
    order_id = whatsapp_order("ada")
    key = chat_receipt("ada")
    with db.session_scope() as session:
        stored = session.execute(sa.select(Receipt)).scalar_one()
        assert (stored.status, stored.order_id, stored.source) == ("incoming", None, "chat")

    tracker = tracker_for("ada", "", entities={"receipt_file": key}, channel="whatsapp")
    messages, _ = await run_action(ActionReceiptUpload(), tracker)
    assert responses(messages) == ["utter_receipt_received"]
    assert messages[0]["order_id"] == order_id
    with db.session_scope() as session:
        receipt = session.execute(sa.select(Receipt)).scalar_one()
        assert (receipt.order_id, receipt.status, receipt.storage_key) == (
            order_id,
            "received",
            key,
        )
        assert (receipt.content_type, receipt.size_bytes) == ("application/pdf", len(PDF))
        assert receipt.sha256 == hashlib.sha256(PDF).hexdigest()
        # Nothing can be read from this PDF: the owner must look.
        assert receipt.verdict["amount"] == "unreadable" and receipt.flagged
        audit = session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "receipt.received")
        ).scalar_one()
        assert audit.detail["order_id"] == order_id and audit.detail["flagged"] is True
        assert "amount unreadable" in audit.detail["verdict"]


async def test_an_old_which_order_button_tapped_again_attaches_nothing_more() -> None:
    """The same stored receipt goes to one order: re-tapping the question's other button is
    refused, and the receipt stays where it went first."""
    make_shop()
    make_buyer("mama-put", "ada", channel="whatsapp", verified=True)
    first, second = whatsapp_order("ada"), whatsapp_order("ada")
    key = chat_receipt("ada")
    messages, _ = await run_action(
        ActionReceiptUpload(),
        tracker_for("ada", "", entities={"receipt_file": key}, channel="whatsapp"),
    )
    assert responses(messages) == ["utter_choose_order_for_receipt"]
    payloads = {
        json.loads(b["payload"][len("/upload_receipt") :])["order_id"]
        for b in messages[0]["buttons"]
    }
    assert payloads == {first, second}
    assert all(key in b["payload"] for b in messages[0]["buttons"])

    for order_id, expected in (
        (second, "utter_receipt_received"),
        (first, "utter_receipt_already_attached"),
    ):
        tracker = tracker_for(
            "ada", "", entities={"receipt_file": key, "order_id": order_id}, channel="whatsapp"
        )
        messages, _ = await run_action(ActionReceiptUpload(), tracker)
        assert responses(messages) == [expected]
    with db.session_scope() as session:
        attached = session.execute(sa.select(Receipt.order_id)).scalars().all()
        assert attached == [second]


async def test_the_same_file_sent_twice_for_one_order_is_kept_once() -> None:
    make_shop()
    make_buyer("mama-put", "ada", channel="whatsapp", verified=True)
    order_id = whatsapp_order("ada")
    for expected in ("utter_receipt_received", "utter_receipt_duplicate"):
        key = chat_receipt("ada")
        tracker = tracker_for("ada", "", entities={"receipt_file": key}, channel="whatsapp")
        messages, _ = await run_action(ActionReceiptUpload(), tracker)
        assert responses(messages) == [expected]
    with db.session_scope() as session:
        statuses = session.execute(sa.select(Receipt.status).order_by(Receipt.id)).scalars()
        assert list(statuses) == ["received", "incoming"]
        assert session.get(Receipt, 1).order_id == order_id


async def test_someone_elses_receipt_attaches_nothing() -> None:
    """A key typed into a payload by hand, or another buyer's button: refused."""
    make_shop()
    make_buyer("mama-put", "ada", channel="whatsapp", verified=True)
    make_buyer("mama-put", "bola", channel="whatsapp", verified=True)
    whatsapp_order("bola")
    adas = chat_receipt("ada")
    tracker = tracker_for("bola", "", entities={"receipt_file": adas}, channel="whatsapp")
    messages, _ = await run_action(ActionReceiptUpload(), tracker)
    assert responses(messages) == ["utter_receipt_unreadable"]
    with db.session_scope() as session:
        receipt = session.execute(sa.select(Receipt)).scalar_one()
        assert (receipt.status, receipt.order_id) == ("incoming", None)


async def test_a_receipt_key_of_another_shop_attaches_nothing() -> None:
    make_shop()
    make_shop("iya-basket", "Iya Basket")
    make_buyer("mama-put", "ada", channel="whatsapp", verified=True)
    whatsapp_order("ada")
    foreign = "shops/iya-basket/receipts/incoming/7-0123456789abcdef.pdf"
    tracker = tracker_for("ada", "", entities={"receipt_file": foreign}, channel="whatsapp")
    messages, _ = await run_action(ActionReceiptUpload(), tracker)
    assert responses(messages) == ["utter_receipt_unreadable"]


@pytest.mark.parametrize(
    ("problem", "reply"),
    [
        ("too_large", "utter_receipt_too_large"),
        ("wrong_type", "utter_receipt_wrong_type"),
        ("unreadable", "utter_receipt_unreadable"),
        ("storage", "utter_uploads_unavailable"),
    ],
)
async def test_receipt_problems_are_explained(problem: str, reply: str) -> None:
    make_shop()
    make_buyer("mama-put", "ada", verified=True)
    messages, _ = await run_action(
        ActionReceiptUpload(), tracker_for("ada", "", entities={"receipt_problem": problem})
    )
    assert responses(messages) == [reply]
