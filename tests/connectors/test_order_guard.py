"""The NLU component that sets unsure order-changing messages aside, as the FallbackClassifier
sets aside unsure messages."""

from __future__ import annotations

from typing import Any

from rasa.shared.nlu.training_data.message import Message

from connectors.order_guard import OrderIntentGuard


def parsed(*pairs: tuple[str, float]) -> Message:
    ranking = [{"name": name, "confidence": confidence} for name, confidence in pairs]
    return Message(data={"text": "x", "intent": dict(ranking[0]), "intent_ranking": ranking})


def guarded(message: Message) -> tuple[Any, list[str]]:
    (message,) = OrderIntentGuard().process([message])
    return message.get("intent")["name"], [e["name"] for e in message.get("intent_ranking")]


def test_an_unsure_cancellation_is_set_aside_with_its_ranking_kept() -> None:
    assert guarded(parsed(("cancel_order", 0.75), ("deny", 0.2))) == (
        "nlu_fallback",
        ["nlu_fallback", "cancel_order", "deny"],
    )


def test_a_sure_cancellation_and_other_intents_pass() -> None:
    assert guarded(parsed(("cancel_order", 0.98), ("deny", 0.01))) == (
        "cancel_order",
        ["cancel_order", "deny"],
    )
    assert guarded(parsed(("order_status", 0.75), ("confirm_order", 0.2))) == (
        "order_status",
        ["order_status", "confirm_order"],
    )


def test_what_the_fallback_classifier_set_aside_is_left_alone() -> None:
    message = parsed(("nlu_fallback", 0.7), ("confirm_order", 0.5), ("order_status", 0.45))
    assert guarded(message) == (
        "nlu_fallback",
        ["nlu_fallback", "confirm_order", "order_status"],
    )
