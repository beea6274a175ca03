"""Unclear messages that would change an order get a one-tap question; tapping it acts."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from actions.cancellation import ActionCancelOrder, ActionKeepOrder
from actions.clarify import ActionClarify
from actions.confirmation import ActionConfirmOrder
from bot.platform import db
from bot.platform.models import Order
from tests.actions.helpers import make_order, responses, run_action
from tests.conftest import make_buyer, make_shop, tracker_for
from tests.helpers.profiles import configure

FALLBACK = {"name": "nlu_fallback", "confidence": 0.7}


def status_of(order_id: str) -> str:
    with db.session_scope() as session:
        return session.get(Order, order_id).status


def unsure(*pairs: tuple[str, float]) -> list[dict[str, object]]:
    """A ranking the pipeline set aside (config.yml), its real intents below."""
    return [FALLBACK, *({"name": n, "confidence": c} for n, c in pairs)]


def slots_of(events: list[dict]) -> dict:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


@pytest.fixture
def ada() -> str:
    make_shop()
    make_buyer("mama-put", "ada", verified=True)
    return "ada"


async def test_an_unclear_approval_asks_and_yes_confirms_that_order(ada: str) -> None:
    order_id = make_order("mama-put", ada)
    text = f"go ahead with order {order_id}"
    tracker = tracker_for(
        ada,
        text,
        entities={"order_id": order_id},
        ranking=unsure(("confirm_order", 0.55), ("order_status", 0.4)),
    )
    messages, events = await run_action(ActionClarify(), tracker)
    assert responses(messages) == ["utter_ask_confirm_order"]
    assert messages[0]["order_id"] == order_id
    yes, no = messages[0]["buttons"]
    assert (yes["title"], no["title"], no["payload"]) == ("Yes", "No", "/deny")
    assert yes["payload"] == f"/confirm_order{json.dumps({'order_id': order_id})}"
    assert slots_of(events) == {"cancel_order_id": None, "cancel_reason": None}
    assert status_of(order_id) == "pending"

    # The button's payload is the confirmation, sure of itself.
    tapped = tracker_for(
        ada, yes["payload"], intent="confirm_order", entities={"order_id": order_id}
    )
    messages, _ = await run_action(ActionConfirmOrder(), tapped)
    assert responses(messages) == ["utter_order_confirmed"]
    assert status_of(order_id) == "confirmed"


async def test_no_to_the_confirmation_question_changes_nothing(ada: str) -> None:
    order_id = make_order("mama-put", ada)
    asked = [{"event": "action", "name": "action_clarify"}]
    messages, _ = await run_action(
        ActionKeepOrder(), tracker_for(ada, "/deny", intent="deny", events=asked)
    )
    assert responses(messages) == ["utter_nothing_changed"]
    assert status_of(order_id) == "pending"


async def test_an_unclear_cancellation_asks_and_yes_cancels(ada: str) -> None:
    order_id = make_order("mama-put", ada)
    text = "I no want am again, e too cost"
    tracker = tracker_for(ada, text, ranking=unsure(("cancel_order", 0.6), ("deny", 0.35)))
    messages, events = await run_action(ActionClarify(), tracker)
    assert responses(messages) == ["utter_ask_cancel_confirmation"]
    slots = slots_of(events)
    assert slots["cancel_order_id"] == order_id
    assert status_of(order_id) == "pending"

    asked = [{"event": "action", "name": "action_clarify"}]
    yes = tracker_for(ada, "/affirm", intent="affirm", slots=slots, events=asked)
    messages, _ = await run_action(ActionCancelOrder(), yes)
    assert responses(messages) == ["utter_order_cancelled"]
    assert status_of(order_id) == "cancelled"


@pytest.mark.parametrize("intent", ["affirm", "deny"])
async def test_an_unclear_answer_to_the_cancellation_question_asks_it_again(
    ada: str, intent: str
) -> None:
    order_id = make_order("mama-put", ada)
    slots = {"cancel_order_id": order_id, "cancel_reason": None}
    asked = [{"event": "action", "name": "action_request_cancellation"}]
    rival = "deny" if intent == "affirm" else "affirm"
    tracker = tracker_for(
        ada, "ehn no", slots=slots, events=asked, ranking=unsure((intent, 0.5), (rival, 0.45))
    )
    messages, events = await run_action(ActionClarify(), tracker)
    assert responses(messages) == ["utter_ask_cancel_confirmation"]
    assert messages[0]["order_id"] == order_id
    assert events == []
    assert status_of(order_id) == "pending"


async def test_an_unclear_yes_with_no_question_asked_is_not_understood(ada: str) -> None:
    order_id = make_order("mama-put", ada)
    tracker = tracker_for(ada, "yo", ranking=unsure(("affirm", 0.5), ("greet", 0.45)))
    messages, _ = await run_action(ActionClarify(), tracker)
    assert responses(messages) == ["utter_fallback"]
    assert status_of(order_id) == "pending"


async def test_other_unclear_messages_get_the_usual_fallback(ada: str) -> None:
    tracker = tracker_for(ada, "hmm", ranking=unsure(("help", 0.5), ("cancel_order", 0.4)))
    messages, _ = await run_action(ActionClarify(), tracker)
    assert responses(messages) == ["utter_fallback"]


async def test_an_unverified_buyer_is_told_to_verify_first() -> None:
    make_shop()
    make_buyer("mama-put", "bola")
    tracker = tracker_for("bola", "approve", ranking=unsure(("confirm_order", 0.6)))
    messages, _ = await run_action(ActionClarify(), tracker)
    assert responses(messages) == ["utter_verify_first"]


async def test_a_shop_without_cancellations_says_so(ada: str) -> None:
    make_order("mama-put", ada)
    configure("mama-put", disable=["order_cancellation"])
    tracker = tracker_for(ada, "cancel o", ranking=unsure(("cancel_order", 0.6)))
    messages, _ = await run_action(ActionClarify(), tracker)
    assert responses(messages) == ["utter_feature_unavailable"]
    with db.session_scope() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == 1
