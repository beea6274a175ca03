"""Buyers and owners are told, by Meta's rules, observed at the Graph API double: the API
process's worker sends inside the 24-hour window a message (with buttons for a new order),
outside it on WhatsApp the shop's template, and otherwise keeps the notification waiting with
its reason until the person writes (stored by the inbox, as the channels store webhooks)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import sqlalchemy as sa

from bot.meta import inbox
from bot.meta.webhooks import parse_instagram, parse_whatsapp
from bot.platform import db
from bot.platform.models import (
    Notification,
    Order,
    OutboundMessage,
    ServiceWindow,
    Shop,
    utcnow,
)
from bot.shop import order_changes, owners
from devtools.graph_double import GraphDoubleThread, recipient_of
from tests.api.conftest import Api, new_key, new_shop
from tests.helpers.meta import ig_event, instagram, wa_text, whatsapp
from tests.helpers.waiting import eventually

BUYER = "2348031234567"
OWNER = "2348120001111"
_accounts = itertools.count(1)


def whatsapp_shop() -> tuple[str, str, str]:
    """A shop with a WhatsApp number and an Instagram account of its own; (shop, phone number
    id, Instagram account id)."""
    number = next(_accounts)
    phone_id, ig_id = f"1065{number:08d}", f"1784{number:09d}"
    shop = new_shop(whatsapp_phone_id=phone_id, instagram_account_id=ig_id)
    return shop, phone_id, ig_id


def writes_on_whatsapp(phone_id: str, sender: str = BUYER, text: str = "hi") -> None:
    """A WhatsApp message reaches the shop and is stored, as the channel stores it."""
    payload = whatsapp([wa_text(text, sender=sender)], phone_number_id=phone_id)
    messages, statuses = parse_whatsapp(payload)
    inbox.store_webhook("whatsapp", messages, statuses)


def shop_the_buyer_wrote_to() -> tuple[str, str, str]:
    """(shop, its key, its phone number id) of a shop the buyer has just written to."""
    shop, phone_id, _ = whatsapp_shop()
    writes_on_whatsapp(phone_id)
    return shop, new_key(shop), phone_id


def writes_on_instagram(ig_id: str, sender: str) -> None:
    event = {**ig_event({"text": "hi"}, sender=sender), "recipient": {"id": ig_id}}
    messages, statuses = parse_instagram(instagram([event], ig_id))
    inbox.store_webhook("instagram", messages, statuses)


def sends_to(graph: GraphDoubleThread, account: str, recipient: str) -> list[dict[str, Any]]:
    return [
        send
        for send in graph.sent()
        if send["account_id"] == account and recipient_of(send["body"]) == recipient
    ]


def notification(api: Api, key: str, order_id: str, state: str) -> dict[str, Any]:
    """The order's notification once it is in ``state``."""

    def found() -> dict[str, Any] | None:
        rows = api.call("GET", "/notifications", key, params={"order_id": order_id}).json()["data"]
        return next((row for row in rows if row["state"] == state), None)

    return eventually(found, what=f"a {state} notification of {order_id}")


def order_for(api: Api, key: str, **buyer: str) -> dict[str, Any]:
    body = {"buyer": buyer, "amount_kobo": 1850000, "description": "Adire kimono"}
    answer = api.call("POST", "/orders", key, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_inside_the_window_a_new_order_is_a_message_with_buttons(
    api: Api, graph: GraphDoubleThread
) -> None:
    shop, key, phone_id = shop_the_buyer_wrote_to()
    order = order_for(api, key, phone="0803 123 4567")

    sent = notification(api, key, order["id"], "done")
    assert (sent["channel"], sent["via"], sent["to"]) == ("whatsapp", "message", "buyer")
    (send,) = sends_to(graph, phone_id, BUYER)
    interactive = send["body"]["interactive"]
    assert (
        order["id"] in interactive["body"]["text"] and "₦18,500.00" in interactive["body"]["text"]
    )
    buttons = [b["reply"] for b in interactive["action"]["buttons"]]
    assert [b["title"] for b in buttons] == ["Confirm", "Cancel", "Send receipt"]
    assert buttons[0]["id"] == f'/confirm_order{{"order_id": "{order["id"]}"}}'
    with db.session_scope() as session:
        recorded = session.execute(
            sa.select(OutboundMessage).where(OutboundMessage.shop_id == shop)
        ).scalar_one()
    assert recorded.platform_message_id == send["id"] and recorded.recipient == "***4567"


def test_outside_the_window_a_whatsapp_template_carries_it(
    api: Api, graph: GraphDoubleThread
) -> None:
    shop, phone_id, _ = whatsapp_shop()
    key = new_key(shop)
    template = {"name": "new_order", "language": "en_US", "parameters": ["order_id", "amount"]}
    api.call("PATCH", "/settings", key, json={"notice_templates": {"order_created": template}})
    order = order_for(api, key, phone="0803 123 4567")

    sent = notification(api, key, order["id"], "done")
    assert (sent["via"], sent["reason"]) == ("template", None)
    (send,) = sends_to(graph, phone_id, BUYER)
    assert send["body"]["type"] == "template"
    assert send["body"]["template"] == {
        "name": "new_order",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": order["id"]},
                    {"type": "text", "text": "₦18,500.00"},
                ],
            }
        ],
    }


def test_without_a_template_it_waits_and_goes_when_the_buyer_writes(
    api: Api, graph: GraphDoubleThread
) -> None:
    shop, phone_id, _ = whatsapp_shop()
    key = new_key(shop)
    order = order_for(api, key, phone="0803 123 4567")

    waiting = notification(api, key, order["id"], "waiting")
    assert waiting["reason"] == (
        "outside the 24-hour window and no WhatsApp template is set for order_created"
    )
    assert sends_to(graph, phone_id, BUYER) == []
    writes_on_whatsapp(phone_id)
    sent = notification(api, key, order["id"], "done")
    assert sent["via"] == "message"
    (send,) = sends_to(graph, phone_id, BUYER)
    assert order["id"] in send["body"]["interactive"]["body"]["text"]


def test_instagram_inside_the_window_and_outside_it(api: Api, graph: GraphDoubleThread) -> None:
    shop, _, ig_id = whatsapp_shop()
    key = new_key(shop)
    writes_on_instagram(ig_id, "IGSID-in")
    inside = order_for(api, key, instagram_user_id="IGSID-in")
    assert notification(api, key, inside["id"], "done")["channel"] == "instagram"
    (send,) = sends_to(graph, ig_id, "IGSID-in")
    assert inside["id"] in send["body"]["message"]["text"]
    replies = send["body"]["message"]["quick_replies"]
    assert [r["title"] for r in replies] == ["Confirm", "Cancel", "Send receipt"]

    writes_on_instagram(ig_id, "IGSID-old")
    with db.session_scope() as session:
        session.execute(
            sa.update(ServiceWindow)
            .where(ServiceWindow.shop_id == shop, ServiceWindow.key == "IGSID-old")
            .values(last_message_at=utcnow() - dt.timedelta(hours=25))
        )
    outside = order_for(api, key, instagram_user_id="IGSID-old")
    waiting = notification(api, key, outside["id"], "waiting")
    assert waiting["reason"] == "outside the 24-hour window; Instagram allows no message then"
    assert sends_to(graph, ig_id, "IGSID-old") == []


def test_a_permanent_error_is_recorded_and_never_retried(
    api: Api, graph: GraphDoubleThread
) -> None:
    shop, key, phone_id = shop_the_buyer_wrote_to()
    graph.fail_next(code=131026, http_status=400, account_id=phone_id)
    order = order_for(api, key, phone="0803 123 4567")

    failed = notification(api, key, order["id"], "failed")
    assert failed["error_code"] == 131026 and "131026" in failed["reason"]
    assert failed["attempts"] == 1
    writes_on_whatsapp(phone_id, text="still there?")
    # Once the next order's notice has gone, the failed one would have gone before it.
    later = order_for(api, key, phone="0803 123 4567")
    notification(api, key, later["id"], "done")
    assert [s["status"] for s in sends_to(graph, phone_id, BUYER)] == [400, 200]
    again = api.call("GET", "/notifications", key, params={"order_id": order["id"]}).json()
    assert (again["data"][0]["state"], again["data"][0]["attempts"]) == ("failed", 1)


def test_a_closed_window_at_meta_waits_for_the_buyer(api: Api, graph: GraphDoubleThread) -> None:
    shop, key, phone_id = shop_the_buyer_wrote_to()
    graph.fail_next(code=131047, http_status=400, account_id=phone_id)
    order = order_for(api, key, phone="0803 123 4567")

    waiting = notification(api, key, order["id"], "waiting")
    assert waiting["error_code"] == 131047 and "outside the 24-hour window" in waiting["reason"]
    writes_on_whatsapp(phone_id, text="hello again")
    assert notification(api, key, order["id"], "done")["via"] == "message"
    assert len(sends_to(graph, phone_id, BUYER)) == 2


def test_status_changes_by_the_shop_tell_the_buyer(api: Api, graph: GraphDoubleThread) -> None:
    shop, key, phone_id = shop_the_buyer_wrote_to()
    order = order_for(api, key, phone="0803 123 4567")
    notification(api, key, order["id"], "done")
    with db.session_scope() as session:
        session.get(Order, order["id"]).status = "confirmed"
    api.call("POST", f"/orders/{order['id']}/status", key, json={"status": "shipped"})

    def texts() -> list[str]:
        return [
            send["body"]["text"]["body"]
            for send in sends_to(graph, phone_id, BUYER)
            if send["body"]["type"] == "text"
        ]

    (shipped,) = eventually(texts)
    assert shipped == f"🚚 Good news! Order {order['id']} (Adire kimono) is on its way to you."
    # A new order that is no longer pending is not announced.
    second = order_for(api, key, phone="0803 123 4567")
    with db.session_scope() as session:
        session.execute(
            sa.update(Notification)
            .where(Notification.order_id == second["id"])
            .values(state="waiting")
        )
        session.get(Order, second["id"]).status = "cancelled"
        session.execute(
            sa.update(Notification)
            .where(Notification.order_id == second["id"])
            .values(state="pending")
        )
    skipped = notification(api, key, second["id"], "skipped")
    assert skipped["reason"] == "the order is cancelled now"


def test_owners_are_told_of_confirmations_in_their_window_or_by_template(
    api: Api, graph: GraphDoubleThread
) -> None:
    shop, phone_id, _ = whatsapp_shop()
    key = new_key(shop)
    settings = {
        "owner_whatsapp": ["0812 000 1111", "0803 999 0000"],
        "notice_templates": {
            "owner_order_confirmed": {"name": "owner_confirmed", "parameters": ["order_id"]}
        },
    }
    api.call("PATCH", "/settings", key, json=settings)
    writes_on_whatsapp(phone_id, sender=OWNER, text="help")  # the first owner's window opens
    order = order_for(api, key, phone="0803 123 4567")
    with db.session_scope() as session:
        placed = session.get(Order, order["id"])
        placed.delivery_address = {
            "street": "12 Allen Avenue",
            "city": "Ikeja",
            "state": "Lagos",
            "phone": "08031234567",
        }
        order_changes.move(session, placed, "confirmed", by=order_changes.BUYER)

    (message,) = eventually(lambda: sends_to(graph, phone_id, OWNER))
    text = message["body"]["text"]["body"]
    assert text.startswith(f"✅ ***4567 confirmed {order['id']} (Adire kimono, ₦18,500.00).")
    assert "Deliver to: 12 Allen Avenue, Ikeja, Lagos" in text
    (template,) = eventually(lambda: sends_to(graph, phone_id, "2348039990000"))
    assert template["body"]["template"]["name"] == "owner_confirmed"

    def owners_told() -> list[str]:
        rows = api.call("GET", "/notifications", key, params={"state": "done"}).json()["data"]
        told = sorted(row["owner"] for row in rows if row["to"] == "owner")
        return told if len(told) == 2 else []

    assert eventually(owners_told) == ["***0000", "***1111"]
    with db.session_scope() as session:
        assert owners.owner_numbers(session.get(Shop, shop)) == ["+2348120001111", "+2348039990000"]


def test_a_throttled_send_is_tried_again_later(api: Api, graph: GraphDoubleThread) -> None:
    shop, key, phone_id = shop_the_buyer_wrote_to()
    # Throttled through every attempt the Graph client makes: the outbox tries again later.
    graph.fail_next(code=130429, http_status=400, times=5, account_id=phone_id)
    order = order_for(api, key, phone="0803 123 4567")

    sent = notification(api, key, order["id"], "done")
    assert sent["attempts"] == 2 and sent["error_code"] is None
    assert [s["status"] for s in sends_to(graph, phone_id, BUYER)] == [400] * 5 + [200]
