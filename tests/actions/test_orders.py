"""Confirming, cancelling and tracking orders: only the buyer's own, in the buyer's shop, and
only as the shop's features allow."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from actions.cancellation import (
    ActionCancelOrder,
    ActionKeepOrder,
    ActionRequestCancellation,
    extract_reason,
)
from actions.confirmation import ActionConfirmOrder
from actions.status import ActionOrderStatus
from bot.platform import db
from bot.platform.models import AuditEvent, Order
from tests.actions.helpers import make_order, responses, run_action
from tests.conftest import make_buyer, make_shop, tracker_for
from tests.helpers.profiles import configure


def status_of(order_id: str) -> str:
    with db.session_scope() as session:
        return session.get(Order, order_id).status


@pytest.fixture
def ada() -> str:
    """A verified buyer of Mama Put Fabrics."""
    make_shop()
    make_buyer("mama-put", "ada", verified=True)
    return "ada"


async def test_unverified_buyer_cannot_touch_orders() -> None:
    make_shop()
    make_buyer("mama-put", "bola")
    order_id = make_order("mama-put", "bola")
    for action in (ActionConfirmOrder(), ActionOrderStatus(), ActionRequestCancellation()):
        messages, _ = await run_action(
            action, tracker_for("bola", "x", entities={"order_id": order_id})
        )
        assert responses(messages) == ["utter_verify_first"]
    messages, _ = await run_action(ActionConfirmOrder(), tracker_for("stranger", "confirm"))
    assert responses(messages) == ["utter_not_registered"]
    assert status_of(order_id) == "pending"


async def test_confirm_the_only_pending_order_then_again(ada: str) -> None:
    order_id = make_order("mama-put", ada)
    messages, _ = await run_action(ActionConfirmOrder(), tracker_for(ada, "confirm"))
    assert responses(messages) == ["utter_order_confirmed"]
    assert messages[0]["order_id"] == order_id
    assert messages[0]["amount"] == "₦25,000.00"
    assert status_of(order_id) == "confirmed"

    messages, _ = await run_action(
        ActionConfirmOrder(), tracker_for(ada, "confirm", entities={"order_id": order_id.lower()})
    )
    assert responses(messages) == ["utter_order_already_confirmed"]
    with db.session_scope() as session:
        confirmed = session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "order.confirmed")
        ).scalars()
        assert [e.detail["order_id"] for e in confirmed] == [order_id]


async def test_several_pending_orders_are_offered_as_buttons(ada: str) -> None:
    first, second = make_order("mama-put", ada), make_order("mama-put", ada, 3_000, "Gele")
    messages, _ = await run_action(ActionConfirmOrder(), tracker_for(ada, "confirm"))
    assert responses(messages) == ["utter_choose_order_to_confirm"]
    payloads = {button["payload"] for button in messages[0]["buttons"]}
    assert payloads == {
        f'/confirm_order{{"order_id": "{first}"}}',
        f'/confirm_order{{"order_id": "{second}"}}',
    }
    assert status_of(first) == status_of(second) == "pending"


async def test_other_buyers_and_other_shops_orders_look_like_missing_ones(ada: str) -> None:
    make_shop("iya-basket", "Iya Basket")
    make_buyer("iya-basket", ada, verified=True)
    theirs = make_order("mama-put", "chidi")
    other_shop = make_order("iya-basket", ada)
    missing = "ORD-ZZZZZZ"

    for order_id in (theirs, other_shop, missing):
        for action in (ActionOrderStatus(), ActionConfirmOrder(), ActionRequestCancellation()):
            messages, events = await run_action(
                action, tracker_for(ada, "x", entities={"order_id": order_id})
            )
            said = [{k: v for k, v in m.items() if v and k != "template"} for m in messages]
            assert said == [{"response": "utter_order_not_found", "order_id": order_id}]
            assert events == []
    assert status_of(theirs) == status_of(other_shop) == "pending"


async def test_status_shows_amount_description_and_last_change(ada: str) -> None:
    order_id = make_order("mama-put", ada, 12_500, "Aso-oke, 2 pieces")
    messages, _ = await run_action(
        ActionOrderStatus(),
        tracker_for(ada, f"order #{order_id}", entities={"order_id": f"#{order_id}"}),
    )
    assert responses(messages) == ["utter_order_status"]
    said = messages[0]
    assert (said["order_id"], said["amount"], said["description"], said["status"]) == (
        order_id,
        "₦12,500.00",
        "Aso-oke, 2 pieces",
        "pending",
    )
    assert said["updated"].endswith("UTC")

    messages, _ = await run_action(ActionOrderStatus(), tracker_for("nobody", "where is my order"))
    assert responses(messages) == ["utter_not_registered"]


async def test_cancel_asks_first_then_cancels_with_the_reason(ada: str) -> None:
    order_id = make_order("mama-put", ada)
    text = f"cancel {order_id} I found am cheaper elsewhere"
    messages, events = await run_action(
        ActionRequestCancellation(), tracker_for(ada, text, entities={"order_id": order_id})
    )
    assert responses(messages) == ["utter_ask_cancel_confirmation"]
    assert status_of(order_id) == "pending"
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots == {"cancel_order_id": order_id, "cancel_reason": "I found am cheaper elsewhere"}

    asked = [{"event": "action", "name": "action_request_cancellation"}]
    messages, events = await run_action(
        ActionCancelOrder(), tracker_for(ada, "yes", intent="affirm", slots=slots, events=asked)
    )
    assert responses(messages) == ["utter_order_cancelled"]
    assert messages[0]["reason"] == "I found am cheaper elsewhere"
    with db.session_scope() as session:
        order = session.get(Order, order_id)
        assert (order.status, order.cancel_reason) == ("cancelled", "I found am cheaper elsewhere")
    assert {e["name"]: e["value"] for e in events} == {
        "cancel_order_id": None,
        "cancel_reason": None,
    }


async def test_no_keeps_the_order_and_a_stray_yes_cancels_nothing(ada: str) -> None:
    order_id = make_order("mama-put", ada)
    slots = {"cancel_order_id": order_id, "cancel_reason": None}
    asked = [{"event": "action", "name": "action_request_cancellation"}]
    messages, _ = await run_action(
        ActionKeepOrder(), tracker_for(ada, "no", intent="deny", slots=slots, events=asked)
    )
    assert responses(messages) == ["utter_order_kept"]

    answered_since = asked + [
        {"event": "user", "text": "where is my order"},
        {"event": "action", "name": "action_order_status"},
    ]
    messages, _ = await run_action(
        ActionCancelOrder(),
        tracker_for(ada, "yes", intent="affirm", slots=slots, events=answered_since),
    )
    assert responses(messages) == ["utter_nothing_to_answer"]
    assert status_of(order_id) == "pending"


@pytest.mark.parametrize("status", ["shipped", "delivered", "cancelled"])
async def test_orders_past_the_point_of_cancelling_are_refused(ada: str, status: str) -> None:
    order_id = make_order("mama-put", ada)
    with db.session_scope() as session:
        session.get(Order, order_id).status = status
    messages, _ = await run_action(
        ActionRequestCancellation(), tracker_for(ada, "cancel", entities={"order_id": order_id})
    )
    expected = (
        "utter_order_already_cancelled" if status == "cancelled" else "utter_order_not_cancellable"
    )
    assert responses(messages) == [expected]
    assert status_of(order_id) == status


async def test_cancel_without_an_id_and_nothing_cancellable(ada: str) -> None:
    messages, _ = await run_action(ActionRequestCancellation(), tracker_for(ada, "cancel my order"))
    assert responses(messages) == ["utter_no_cancellable_orders", "utter_link_phone_hint"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("cancel ORD-7F3K9Q changed my mind", "changed my mind"),
        ("abeg cancel am, I no get money again", "I no get money again"),
        ("please cancel my order because it is late", "it is late"),
        ("cancel #ord7f3k9q", None),
        ("cancel my order", None),
    ],
)
def test_reason_is_what_remains_of_the_request(text: str, reason: str) -> None:
    assert extract_reason(text) == reason


# The shop's features


@pytest.fixture
def ada_at_kemi() -> str:
    """A verified buyer of Kemi's Closet."""
    make_shop("kemi", "Kemi's Closet")
    make_buyer("kemi", "ada", verified=True)
    return "ada"


async def test_a_disabled_feature_is_answered_clearly(ada_at_kemi: str) -> None:
    order_id = make_order("kemi", ada_at_kemi)
    configure("kemi", disable=["order_tracking"])
    messages, _ = await run_action(
        ActionOrderStatus(),
        tracker_for(ada_at_kemi, "x", shop="kemi", entities={"order_id": order_id}),
    )
    assert responses(messages) == ["utter_feature_unavailable"]
    assert messages[0]["feature_name"] == "order tracking"


async def test_address_collection_asks_for_an_address_then_confirms_with_it(
    ada_at_kemi: str,
) -> None:
    order_id = make_order("kemi", ada_at_kemi)
    configure("kemi", enable=["address_collection"])
    messages, events = await run_action(
        ActionConfirmOrder(), tracker_for(ada_at_kemi, "confirm", shop="kemi")
    )
    assert responses(messages) == ["utter_address_needed"]
    assert {"event": "followup", "name": "address_form", "timestamp": None} in events
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["confirming_order_id"] == order_id
    with db.session_scope() as session:
        assert session.get(Order, order_id).status == "pending"

    filled = {
        "confirming_order_id": order_id,
        "address_street": "12 Allen Avenue",
        "address_city": "Ikeja",
        "address_state": "Lagos",
        "address_phone": "+2348031234567",
    }
    messages, events = await run_action(
        ActionConfirmOrder(), tracker_for(ada_at_kemi, "0803 123 4567", shop="kemi", slots=filled)
    )
    assert responses(messages) == ["utter_order_confirmed_delivery"]
    assert messages[0]["address"] == "12 Allen Avenue, Ikeja, Lagos (+2348031234567)"
    with db.session_scope() as session:
        order = session.get(Order, order_id)
        assert order.status == "confirmed"
        assert order.delivery_address["state"] == "Lagos"
    assert all(e["value"] is None for e in events if e["event"] == "slot")
