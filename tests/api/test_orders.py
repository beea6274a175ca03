"""Orders over HTTP: made for a phone, a buyer or an Instagram user, retried safely, listed a
page at a time, read, moved along the lifecycle the CLI allows, and their receipts."""

from __future__ import annotations

import datetime as dt
import hashlib

import boto3
import pytest
import requests
import sqlalchemy as sa

from bot.platform import db
from bot.platform.models import AuditEvent, Order, Receipt, ReceiptStatus, utcnow
from bot.shop import api_keys, buyers
from tests.api.conftest import Api
from tests.conftest import BUCKET

ORDER = {"buyer": {"phone": "0803 123 4567"}, "amount_kobo": 2500000, "description": "Ankara"}


def orders_in_db(shop: str) -> list[Order]:
    with db.session_scope() as session:
        return list(session.execute(sa.select(Order).where(Order.shop_id == shop)).scalars())


def test_an_order_is_made_for_a_phone_number_in_any_spelling(api: Api, shop: str, key: str) -> None:
    first = api.call("POST", "/orders", key, json=ORDER)
    second = api.call(
        "POST", "/orders", key, json={**ORDER, "buyer": {"phone": "+234 803-123-4567"}}
    )
    assert first.status_code == second.status_code == 201
    order = first.json()
    assert order["id"].startswith("ORD-") and order["status"] == "pending"
    assert (order["amount_kobo"], order["amount"]) == (2500000, "₦25,000.00")
    assert order["buyer"]["phone"] == "+2348031234567"
    assert order["created_at"].endswith("Z") and order["updated_at"] == order["created_at"]
    assert second.json()["buyer"]["id"] == order["buyer"]["id"]
    assert api.call("GET", f"/orders/{order['id']}", key).json() == order
    # Typed the way buyers type it, the id finds the same order.
    assert api.call("GET", f"/orders/{order['id'].lower().replace('-', '')}", key).json() == order
    with db.session_scope() as session:
        actions = session.execute(
            sa.select(AuditEvent.action, AuditEvent.detail).where(AuditEvent.shop_id == shop)
        ).all()
    with db.session_scope() as session:
        (key_id,) = [row.id for row in api_keys.list_keys(session, shop)]
    assert ("order.created", {"order_id": order["id"], "by": f"api key {key_id}"}) in [
        tuple(row) for row in actions
    ]


def test_an_order_for_a_buyer_id_or_an_instagram_user(api: Api, shop: str, key: str) -> None:
    by_instagram = api.call(
        "POST", "/orders", key, json={**ORDER, "buyer": {"instagram_user_id": "IGSID-77"}}
    ).json()
    buyer_id = by_instagram["buyer"]["id"]
    by_id = api.call("POST", "/orders", key, json={**ORDER, "buyer": {"buyer_id": buyer_id}})
    assert by_id.status_code == 201 and by_id.json()["buyer"]["id"] == buyer_id
    buyer = api.call("GET", f"/buyers/{buyer_id}", key).json()
    assert buyer["accounts"] == [{"channel": "instagram", "user_id": "IGSID-77", "username": None}]
    with db.session_scope() as session:
        assert buyers.find_buyer(session, shop, "instagram", "IGSID-77").id == buyer_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ORDER, "amount_kobo": 0}, "amount_kobo"),
        ({**ORDER, "amount_kobo": "2500"}, "amount_kobo"),
        ({**ORDER, "amount_kobo": 25.5}, "amount_kobo"),
        ({**ORDER, "amount_kobo": True}, "amount_kobo"),
        ({**ORDER, "description": "   "}, "description"),
        ({**ORDER, "description": "nul\x00byte"}, "description"),
        ({**ORDER, "buyer": {}}, "buyer"),
        ({**ORDER, "buyer": {"phone": "1", "buyer_id": 1}}, "buyer"),
        ({**ORDER, "buyer": {"phone": "12345"}}, "buyer.phone"),
        ({**ORDER, "buyer": {"buyer_id": 999999}}, "buyer.buyer_id"),
        ({**ORDER, "colour": "blue"}, "colour"),
        ({"buyer": {"phone": "0803 123 4567"}}, "amount_kobo"),
    ],
)
def test_a_bad_order_is_a_422_naming_the_field_and_makes_nothing(
    api: Api, shop: str, key: str, body: dict, field: str
) -> None:
    answer = api.call("POST", "/orders", key, json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert error["code"] == "invalid_request" and error["message"]
    assert any(problem["field"].startswith(field) for problem in error["problems"]), error
    assert orders_in_db(shop) == []


@pytest.mark.parametrize("body", [b"", b"{", b"[1, 2", b"not json"])
def test_a_body_that_is_not_json_is_a_400(api: Api, key: str, body: bytes) -> None:
    answer = api.call("POST", "/orders", key, data=body)
    assert answer.status_code == 400
    assert answer.json() == {"code": "invalid_json", "message": "The body must be a JSON object."}


def test_a_reference_is_one_orders_only(api: Api, shop: str, key: str) -> None:
    first = api.call("POST", "/orders", key, json={**ORDER, "reference": "shopify-1001"})
    assert first.status_code == 201 and first.json()["reference"] == "shopify-1001"
    again = api.call("POST", "/orders", key, json={**ORDER, "reference": "shopify-1001"})
    assert again.status_code == 409 and again.json()["code"] == "duplicate_reference"
    assert len(orders_in_db(shop)) == 1


def test_a_retried_post_with_its_idempotency_key_gets_the_same_order(
    api: Api, shop: str, key: str
) -> None:
    headers = {"Idempotency-Key": "storefront-cart-81"}
    first = api.call("POST", "/orders", key, json=ORDER, headers=headers)
    retry = api.call("POST", "/orders", key, json=ORDER, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert [order.id for order in orders_in_db(shop)] == [first.json()["id"]]
    # The same key for another request is refused; a new key makes a new order.
    other = api.call("POST", "/orders", key, json={**ORDER, "amount_kobo": 1}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    fresh = api.call("POST", "/orders", key, json=ORDER, headers={"Idempotency-Key": "cart-82"})
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]
    # Keys are per shop: another shop's identical key is its own.
    assert len(orders_in_db(shop)) == 2


def test_a_failed_attempt_leaves_its_key_free(api: Api, shop: str, key: str) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    bad = api.call(
        "POST", "/orders", key, json={**ORDER, "buyer": {"phone": "12"}}, headers=headers
    )
    assert bad.status_code == 422
    good = api.call("POST", "/orders", key, json=ORDER, headers=headers)
    assert good.status_code == 201


def test_a_malformed_idempotency_key_is_a_400(api: Api, shop: str, key: str) -> None:
    answer = api.call("POST", "/orders", key, json=ORDER, headers={"Idempotency-Key": "a b"})
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_idempotency_key"
    assert orders_in_db(shop) == []


def test_orders_are_listed_newest_first_a_page_at_a_time(api: Api, shop: str, key: str) -> None:
    made = [
        api.call("POST", "/orders", key, json={**ORDER, "amount_kobo": n}).json()["id"]
        for n in range(1, 6)
    ]
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.call("GET", "/orders", key, params=query).json()
        assert len(page["data"]) <= 2
        seen += [order["id"] for order in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]
    bad = api.call("GET", "/orders", key, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"


def test_orders_are_filtered_by_status_buyer_and_time(api: Api, shop: str, key: str) -> None:
    old = api.call("POST", "/orders", key, json=ORDER).json()
    with db.session_scope() as session:
        session.get(Order, old["id"]).created_at = utcnow() - dt.timedelta(days=3)
    other = api.call(
        "POST", "/orders", key, json={**ORDER, "buyer": {"phone": "0812 000 1111"}}
    ).json()
    api.call(
        "POST", f"/orders/{other['id']}/status", key, json={"status": "cancelled", "reason": "x"}
    )

    def ids(**params: object) -> list[str]:
        answer = api.call("GET", "/orders", key, params=params)
        assert answer.status_code == 200, answer.text
        return [order["id"] for order in answer.json()["data"]]

    assert ids(status="cancelled") == [other["id"]]
    assert ids(status="pending") == [old["id"]]
    assert ids(buyer_id=old["buyer"]["id"]) == [old["id"]]
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).isoformat()
    assert ids(since=since) == [other["id"]]
    for params in ({"status": "lost"}, {"since": "yesterday"}, {"limit": 0}, {"limit": 101}):
        answer = api.call("GET", "/orders", key, params=params)
        assert answer.status_code == 422 and answer.json()["code"] == "invalid_request"


def test_an_order_moves_only_as_its_lifecycle_allows(api: Api, shop: str, key: str) -> None:
    order = api.call("POST", "/orders", key, json=ORDER).json()
    path = f"/orders/{order['id']}/status"

    early = api.call("POST", path, key, json={"status": "shipped"})
    assert early.status_code == 409
    assert early.json() == {
        "code": "transition_not_allowed",
        "message": f"Order {order['id']} is pending: it can become cancelled, confirmed, "
        "not shipped.",
    }
    with db.session_scope() as session:
        session.get(Order, order["id"]).status = "confirmed"
    shipped = api.call("POST", path, key, json={"status": "shipped"})
    assert shipped.status_code == 200 and shipped.json()["status"] == "shipped"
    again = api.call("POST", path, key, json={"status": "shipped"})
    assert again.status_code == 200 and again.json()["updated_at"] == shipped.json()["updated_at"]
    cancel = api.call("POST", path, key, json={"status": "cancelled", "reason": "out of stock"})
    assert cancel.status_code == 409
    assert api.call("POST", path, key, json={"status": "delivered"}).json()["status"] == "delivered"
    for body in ({"status": "confirmed"}, {"status": "pending"}, {}, {"status": "cancelled"}):
        answer = api.call("POST", path, key, json=body)
        assert answer.status_code == 422, body
    assert api.call("GET", f"/orders/{order['id']}", key).json()["status"] == "delivered"


def test_a_cancellation_keeps_its_reason(api: Api, shop: str, key: str) -> None:
    order = api.call("POST", "/orders", key, json=ORDER).json()
    cancelled = api.call(
        "POST",
        f"/orders/{order['id']}/status",
        key,
        json={"status": "cancelled", "reason": "out of stock"},
    ).json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "out of stock")


def test_receipts_come_with_a_short_lived_download_link(
    api: Api, shop: str, key: str, test_env: None
) -> None:
    order = api.call("POST", "/orders", key, json=ORDER).json()
    content = b"%PDF-1.4 transfer of 25,000 naira"
    storage_key = f"shops/{shop}/orders/{order['id']}/receipts/1-abc.pdf"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=storage_key, Body=content)
    with db.session_scope() as session:
        session.add(
            Receipt(
                shop_id=shop,
                order_id=order["id"],
                buyer_id=order["buyer"]["id"],
                source="link",
                storage_key=storage_key,
                status=ReceiptStatus.RECEIVED.value,
                content_type="application/pdf",
                size_bytes=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                attached_at=utcnow(),
            )
        )
    (receipt,) = api.call("GET", f"/orders/{order['id']}/receipts", key).json()["data"]
    assert receipt["content_type"] == "application/pdf"
    assert receipt["sha256"] == hashlib.sha256(content).hexdigest()
    assert (receipt["verdict"], receipt["verdict_reason"]) == (None, None)  # not checked here
    expires = dt.datetime.fromisoformat(receipt["download_expires_at"].rstrip("Z"))
    assert dt.timedelta(minutes=4) < expires - utcnow() <= dt.timedelta(minutes=5)
    assert requests.get(receipt["download_url"], timeout=10).content == content
