"""What follows an order's change, whoever makes it: the audit row, the shop's event and the
notifications to the buyer or the owners, in the same transaction."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from bot.platform import db
from bot.platform.models import AuditEvent, Buyer, Notification, Order, Receipt, ShopEvent, utcnow
from bot.shop import buyers, order_changes, orders, owners, shops
from bot.shop.order_changes import BUYER


@pytest.fixture(autouse=True)
def shop_with_owners() -> None:
    with db.session_scope() as session:
        shop = shops.add_shop(session, "mama-put", "Mama Put Fabrics")
        owners.set_owner_numbers(shop, owners.checked_numbers(["0812 000 1111", "0803 999 0000"]))


def made_order(status: str = "pending") -> str:
    with db.session_scope() as session:
        buyer, _ = buyers.buyer_for_phone(session, "mama-put", "+2348031234567")
        order = orders.create_order(session, buyer, 2500000, "Ankara")
        order_changes.created(session, order, by="cli")
        order.status = status
        return order.id


def what_followed(order_id: str) -> dict[str, Any]:
    with db.session_scope() as session:
        return {
            "audit": [
                (row.action, row.detail)
                for row in session.execute(sa.select(AuditEvent).order_by(AuditEvent.id)).scalars()
            ],
            "events": [
                (row.type, row.data.get("changed_by"), row.data.get("previous_status"))
                for row in session.execute(
                    sa.select(ShopEvent).order_by(ShopEvent.created_at, ShopEvent.id)
                ).scalars()
            ],
            "notices": sorted(
                (row.kind, row.owner_phone or "buyer", row.detail.get("reason"))
                for row in session.execute(
                    sa.select(Notification).where(Notification.order_id == order_id)
                ).scalars()
            ),
        }


def move(order_id: str, status: str, by: str, reason: str | None = None) -> orders.Change:
    with db.session_scope() as session:
        order = session.get(Order, order_id)
        return order_changes.move(session, order, status, by=by, reason=reason)


def test_a_new_order_is_audited_reported_and_announced_to_its_buyer() -> None:
    order_id = made_order()
    followed = what_followed(order_id)
    assert followed["audit"] == [("order.created", {"order_id": order_id, "by": "cli"})]
    assert followed["events"] == [("order.created", None, None)]
    assert followed["notices"] == [("order_created", "buyer", None)]


def test_the_buyers_confirmation_and_cancellation_tell_the_owners() -> None:
    order_id = made_order()
    assert move(order_id, "confirmed", BUYER) is orders.Change.DONE
    assert move(order_id, "cancelled", BUYER, "wrong size") is orders.Change.DONE
    followed = what_followed(order_id)
    assert [action for action, _ in followed["audit"]][1:] == ["order.confirmed", "order.cancelled"]
    assert followed["audit"][-1][1] == {"order_id": order_id, "reason": "wrong size"}
    assert followed["events"][1:] == [
        ("order.confirmed", "buyer", "pending"),
        ("order.cancelled", "buyer", "confirmed"),
    ]
    assert followed["notices"] == [
        ("order_created", "buyer", None),
        ("owner_order_cancelled", "+2348039990000", "wrong size"),
        ("owner_order_cancelled", "+2348120001111", "wrong size"),
        ("owner_order_confirmed", "+2348039990000", None),
        ("owner_order_confirmed", "+2348120001111", None),
    ]


def test_the_shops_moves_tell_the_buyer() -> None:
    shipped, cancelled = made_order("confirmed"), made_order()
    move(shipped, "shipped", "api key 1")
    move(shipped, "delivered", "owner ***1111")
    move(cancelled, "cancelled", "cli", "out of stock")
    assert what_followed(shipped)["notices"] == [
        ("order_created", "buyer", None),
        ("order_delivered", "buyer", None),
        ("order_shipped", "buyer", None),
    ]
    assert ("order_cancelled", "buyer", "out of stock") in what_followed(cancelled)["notices"]
    audit = what_followed(shipped)["audit"]
    assert ("order.status_changed", {"order_id": shipped, "before": "shipped",
            "after": "delivered", "by": "owner ***1111"}) in audit  # fmt: skip
    assert ("order.status_changed", "shop", "shipped") in what_followed(shipped)["events"]


def test_a_move_that_is_refused_or_already_made_changes_and_tells_nothing() -> None:
    order_id = made_order()
    before = what_followed(order_id)
    assert move(order_id, "delivered", "cli") is orders.Change.NOT_ALLOWED
    assert move(order_id, "pending", "cli") is orders.Change.ALREADY
    assert what_followed(order_id) == before


def test_a_receipt_tells_the_owners_and_the_shops_system() -> None:
    order_id = made_order()
    with db.session_scope() as session:
        order = session.get(Order, order_id)
        receipt = Receipt(
            shop_id="mama-put",
            order_id=order_id,
            buyer_id=order.buyer_id,
            source="chat",
            storage_key="shops/mama-put/receipts/incoming/1-ab.jpg",
            status="received",
            content_type="image/jpeg",
            size_bytes=1234,
            attached_at=utcnow(),
        )
        session.add(receipt)
        order_changes.receipt_received(session, order, session.get(Buyer, order.buyer_id), receipt)
    followed = what_followed(order_id)
    assert followed["audit"][-1][0] == "receipt.received"
    assert followed["events"][-1][0] == "receipt.received"
    assert [kind for kind, *_ in followed["notices"]].count("owner_receipt_received") == 2
    with db.session_scope() as session:
        event = session.execute(
            sa.select(ShopEvent).where(ShopEvent.type == "receipt.received")
        ).scalar_one()
        assert event.data["receipt"]["content_type"] == "image/jpeg"
        assert event.data["order"]["id"] == order_id
