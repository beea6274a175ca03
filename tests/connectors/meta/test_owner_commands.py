"""An owner's WhatsApp messages to their own shop are commands, answered by the channel without
a turn of the assistant, through the channel's output (replies observed at the Graph double and
recorded); a buyer's messages still go to the assistant."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.platform import db
from bot.platform.models import (
    Buyer,
    BuyerIdentity,
    InboxMessage,
    Notification,
    Order,
    OutboundMessage,
    Shop,
)
from bot.shop import buyers, orders, owners
from connectors.whatsapp import WhatsAppInput
from devtools.graph_double import GraphDoubleThread, recipient_of
from tests.connectors.meta.test_channels import WA_URL, post, until
from tests.helpers.channels import RasaStandIn, app_for
from tests.helpers.meta import wa_text, whatsapp

OWNER = "2348120001111"
BUYER = "2348031234567"


@pytest.fixture(autouse=True)
def shop_with_owner() -> None:
    """The channels' shops (``meta_env``, autouse); Mama Put's owner writes from 0812 000 1111."""
    with db.session_scope() as session:
        shop = session.get(Shop, "mama-put")
        owners.set_owner_numbers(shop, owners.checked_numbers(["0812 000 1111"]))


def order(status: str = "confirmed", description: str = "Ankara, 6 yards") -> str:
    with db.session_scope() as session:
        buyer, _ = buyers.buyer_for_phone(session, "mama-put", "+2348031234567")
        made = orders.create_order(session, buyer, 2500000, description)
        made.status = status
        return made.id


async def say(graph: GraphDoubleThread, rasa: RasaStandIn, text: str, sender: str = OWNER) -> str:
    """What the shop answered ``sender``'s ``text``."""
    app = app_for(WhatsAppInput, rasa)
    before = len(graph.sent())
    response = await post(app, WA_URL, whatsapp([wa_text(text, sender=sender)]))
    assert response.status == 200
    await until(lambda: len(graph.sent()) > before)
    (reply,) = graph.sent()[before:]
    assert recipient_of(reply["body"]) == sender
    return reply["body"]["text"]["body"]


async def test_an_owner_marks_an_order_shipped_and_the_buyer_is_told(
    graph: GraphDoubleThread,
) -> None:
    rasa = RasaStandIn()
    order_id = order()
    answer = await say(graph, rasa, f"shipped {order_id.lower()}")
    assert answer == f"{order_id} is now shipped. The buyer is told."
    assert rasa.messages == []
    with db.session_scope() as session:
        assert session.get(Order, order_id).status == "shipped"
        notice = session.execute(
            sa.select(Notification).where(Notification.order_id == order_id)
        ).scalar_one()
        assert (notice.kind, notice.owner_phone) == ("order_shipped", None)
        audit_by = session.execute(
            sa.text("SELECT detail FROM audit_events WHERE action = 'order.status_changed'")
        ).scalar_one()
        # The owner is the one who moved it, masked.
        assert '"by": "owner ***1111"' in audit_by
        # The owner's message is answered and recorded like any reply; the owner is no buyer.
        assert session.execute(sa.select(InboxMessage.state)).scalars().all() == ["done"]
        assert session.execute(sa.select(OutboundMessage.recipient)).scalars().all() == ["***1111"]
        assert session.execute(sa.select(BuyerIdentity)).scalars().all() == []
    assert await say(graph, rasa, f"delivered {order_id}") == (
        f"{order_id} is now delivered. The buyer is told."
    )


async def test_a_move_the_lifecycle_refuses_is_explained(graph: GraphDoubleThread) -> None:
    order_id = order(status="pending")
    answer = await say(graph, RasaStandIn(), f"delivered {order_id}")
    assert answer == f"{order_id} is pending: it can become cancelled, confirmed, not delivered."
    assert await say(graph, RasaStandIn(), "shipped ORD-ZZZZZZ") == (
        'No order ORD-ZZZZZZ in your shop. Send "orders" to see today\'s.'
    )
    with db.session_scope() as session:
        assert session.get(Order, order_id).status == "pending"


async def test_orders_lists_todays_open_orders_and_order_shows_one(
    graph: GraphDoubleThread,
) -> None:
    first = order(status="pending", description="Adire kimono")
    second = order(status="confirmed")
    order(status="shipped")
    answer = await say(graph, RasaStandIn(), "Orders")
    lines = answer.splitlines()
    assert lines[0] == "Today: 1 pending, 1 confirmed"
    assert lines[1:] == [
        f"{first} pending ₦25,000.00 Adire kimono",
        f"{second} confirmed ₦25,000.00 Ankara, 6 yards",
    ]
    detail = await say(graph, RasaStandIn(), f"order {second}")
    assert detail.splitlines()[:4] == [
        f"{second}: confirmed, ₦25,000.00",
        "Ankara, 6 yards",
        "Buyer: ***4567",
        "Receipts: 0",
    ]


@pytest.mark.parametrize("text", ["help", "hello", "shipped", "ship ORD-7F3K9Q now"])
async def test_anything_else_gets_the_list_of_commands(graph: GraphDoubleThread, text: str) -> None:
    answer = await say(graph, RasaStandIn(), text)
    assert answer.startswith("Commands for your shop:")
    assert "shipped ORD-…" in answer


async def test_a_buyers_message_still_goes_to_the_assistant(graph: GraphDoubleThread) -> None:
    rasa = RasaStandIn()
    assert await say(graph, rasa, "orders", sender=BUYER) == "got: orders"
    assert rasa.texts == ["orders"]


async def test_a_number_that_stops_being_an_owners_is_a_buyer_again(
    graph: GraphDoubleThread,
) -> None:
    with db.session_scope() as session:
        owners.set_owner_numbers(session.get(Shop, "mama-put"), [])
    rasa = RasaStandIn()
    assert await say(graph, rasa, "orders") == "got: orders"
    with db.session_scope() as session:
        (buyer,) = session.execute(sa.select(Buyer)).scalars().all()
        assert buyer.phone == "+2348120001111"
