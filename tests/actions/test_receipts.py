"""Receipt upload links: a presigned POST that S3 (moto) enforces, recorded and audited."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import requests
import sqlalchemy as sa

from actions.receipts import ActionReceiptUpload
from bot.platform import db
from bot.platform.models import AuditEvent, Receipt
from bot.shop.receipts import MAX_BYTES
from tests.actions.helpers import make_order, responses, run_action
from tests.conftest import BUCKET, make_buyer, make_shop, tracker_for


async def test_upload_link_for_the_only_open_order(s3) -> None:
    make_shop()
    make_buyer("mama-put", "ada", verified=True)
    order_id = make_order("mama-put", "ada")
    messages, _ = await run_action(ActionReceiptUpload(), tracker_for("ada", "upload"))
    assert responses(messages) == ["utter_upload_link"]
    upload = messages[0]["custom"]["receipt_upload"]
    assert upload["order_id"] == order_id
    assert upload["max_bytes"] == MAX_BYTES
    assert set(upload["fields"]) == {"image/jpeg", "image/png", "application/pdf"}
    for content_type, fields in upload["fields"].items():
        assert fields["key"].startswith(f"shops/mama-put/orders/{order_id}/receipts/")
        assert fields["Content-Type"] == content_type

    with db.session_scope() as session:
        receipt = session.execute(sa.select(Receipt)).scalar_one()
        assert (receipt.shop_id, receipt.order_id, receipt.status) == (
            "mama-put",
            order_id,
            "expected",
        )
        audit = session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "receipt.upload_link_issued")
        ).scalar_one()
        assert audit.detail["order_id"] == order_id


async def test_signed_policy_limits_key_type_size_and_time(s3) -> None:
    """moto accepts the form but does not enforce policies, so read what was signed."""
    make_shop()
    make_buyer("mama-put", "ada", verified=True)
    order_id = make_order("mama-put", "ada")
    messages, _ = await run_action(ActionReceiptUpload(), tracker_for("ada", "upload"))
    upload = messages[0]["custom"]["receipt_upload"]
    for content_type, fields in upload["fields"].items():
        policy = json.loads(base64.b64decode(fields["policy"]))
        conditions = policy["conditions"]
        assert ["content-length-range", 1, 10 * 1024 * 1024] in conditions
        assert {"Content-Type": content_type} in conditions
        assert {"key": fields["key"]} in conditions
        assert {"bucket": BUCKET} in conditions
        expires = dt.datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ")
        left = expires - dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        assert dt.timedelta(minutes=9) < left <= dt.timedelta(minutes=10)

    pdf = upload["fields"]["application/pdf"]
    files = {"file": ("receipt.pdf", b"%PDF-1.4 receipt", "application/pdf")}
    assert requests.post(upload["url"], data=pdf, files=files).status_code < 300
    stored = s3.get_object(Bucket=BUCKET, Key=pdf["key"])
    assert stored["Body"].read() == b"%PDF-1.4 receipt"
    assert pdf["key"].startswith(f"shops/mama-put/orders/{order_id}/receipts/")


async def test_several_open_orders_ask_which_and_no_orders_says_so(s3) -> None:
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


async def test_without_s3_credentials_the_buyer_is_told_uploads_are_unavailable(
    monkeypatch,
) -> None:
    from bot.shop import receipts

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    receipts._s3_client.cache_clear()
    make_shop()
    make_buyer("mama-put", "ada", verified=True)
    make_order("mama-put", "ada")
    messages, _ = await run_action(ActionReceiptUpload(), tracker_for("ada", "upload"))
    receipts._s3_client.cache_clear()
    assert responses(messages) == ["utter_uploads_unavailable"]
    with db.session_scope() as session:
        assert session.execute(sa.select(Receipt)).first() is None


def _chat_receipt(s3, shop_id: str = "mama-put") -> str:
    """A receipt as the WhatsApp channel stores it before the assistant sees it."""
    from bot.shop.receipts import store_incoming_receipt

    return store_incoming_receipt(BUCKET, shop_id, 7, b"%PDF-1.4 transfer", "application/pdf")


async def test_a_receipt_sent_in_the_chat_is_attached_to_the_only_open_order(s3) -> None:
    make_shop()
    make_buyer("mama-put", "ada", channel="whatsapp", verified=True)
    with db.session_scope() as session:
        from bot.shop import orders
        from bot.shop.buyers import find_buyer

        buyer = find_buyer(session, "mama-put", "whatsapp", "ada")
        order_id = orders.create_order(session, buyer, 500_000, "Lace").id
    key = _chat_receipt(s3)
    tracker = tracker_for(
        "ada",
        "",
        entities={"receipt_file": key},
        channel="whatsapp",
    )
    messages, _ = await run_action(ActionReceiptUpload(), tracker)
    assert responses(messages) == ["utter_receipt_received"]
    assert messages[0]["order_id"] == order_id
    with db.session_scope() as session:
        receipt = session.execute(sa.select(Receipt)).scalar_one()
        assert (receipt.order_id, receipt.status, receipt.s3_key) == (order_id, "received", key)
        assert (receipt.content_type, receipt.size_bytes) == ("application/pdf", 17)
        assert receipt.sha256 and len(receipt.sha256) == 64
        actions = session.execute(sa.select(AuditEvent.action)).scalars().all()
        assert "receipt.received" in actions


async def test_a_chat_receipt_with_several_open_orders_asks_which(s3) -> None:
    make_shop()
    make_buyer("mama-put", "ada", verified=True)
    first, second = make_order("mama-put", "ada"), make_order("mama-put", "ada")
    key = _chat_receipt(s3)
    messages, _ = await run_action(
        ActionReceiptUpload(), tracker_for("ada", "", entities={"receipt_file": key})
    )
    assert responses(messages) == ["utter_choose_order_for_receipt"]
    payloads = {
        json.loads(b["payload"][len("/upload_receipt") :])["order_id"]
        for b in messages[0]["buttons"]
    }
    assert payloads == {first, second}
    assert all(key in b["payload"] for b in messages[0]["buttons"])

    messages, _ = await run_action(
        ActionReceiptUpload(),
        tracker_for("ada", "", entities={"receipt_file": key, "order_id": second}),
    )
    assert responses(messages) == ["utter_receipt_received"]
    assert messages[0]["order_id"] == second


async def test_a_receipt_key_of_another_shop_attaches_nothing(s3) -> None:
    make_shop()
    make_shop("iya-basket", "Iya Basket")
    make_buyer("mama-put", "ada", verified=True)
    make_order("mama-put", "ada")
    foreign = _chat_receipt(s3, shop_id="iya-basket")
    messages, _ = await run_action(
        ActionReceiptUpload(), tracker_for("ada", "", entities={"receipt_file": foreign})
    )
    assert responses(messages) == ["utter_receipt_unreadable"]
    with db.session_scope() as session:
        assert session.execute(sa.select(Receipt)).first() is None


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


async def test_on_whatsapp_upload_asks_for_the_file_in_the_chat(s3) -> None:
    make_shop()
    make_buyer("mama-put", "ada", channel="whatsapp", verified=True)
    with db.session_scope() as session:
        from bot.shop import orders
        from bot.shop.buyers import find_buyer

        orders.create_order(
            session, find_buyer(session, "mama-put", "whatsapp", "ada"), 100, "Gele"
        )
    tracker = tracker_for("ada", "upload", channel="whatsapp")
    messages, _ = await run_action(ActionReceiptUpload(), tracker)
    assert responses(messages) == ["utter_receipt_send_here"]
    with db.session_scope() as session:
        assert session.execute(sa.select(Receipt)).first() is None
