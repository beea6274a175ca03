"""Receipt upload links: a presigned POST that S3 (moto) enforces, recorded and audited."""

from __future__ import annotations

import base64
import datetime as dt
import json

import requests
import sqlalchemy as sa

from actions.receipts import ActionReceiptUpload
from bot import db
from bot.models import AuditEvent, Receipt
from bot.receipts import MAX_BYTES
from tests.actions_helpers import responses, run_action
from tests.conftest import BUCKET, make_buyer, make_shop, tracker_for
from tests.test_actions_orders import make_order


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
    assert responses(messages) == ["utter_no_open_orders"]
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
    from bot import receipts

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
