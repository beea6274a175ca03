"""The bar for acting on a message that would change an order."""

from __future__ import annotations

import pytest

from bot.shop.understanding import MIN_CONFIDENCE, MIN_MARGIN, intent_in_doubt


def ranking(*pairs: tuple[str, float]) -> list[dict[str, object]]:
    return [{"name": name, "confidence": confidence} for name, confidence in pairs]


@pytest.mark.parametrize("intent", ["affirm", "deny", "confirm_order", "cancel_order"])
def test_a_sure_order_changing_intent_is_acted_on(intent: str) -> None:
    assert intent_in_doubt(ranking((intent, 0.97), ("order_status", 0.02))) is None


def test_below_the_bar_it_is_in_doubt_though_the_fallback_would_act() -> None:
    unsure = MIN_CONFIDENCE - 0.05
    assert unsure > 0.7
    assert intent_in_doubt(ranking(("confirm_order", unsure), ("order_status", 0.1))) == (
        "confirm_order"
    )


def test_close_to_its_opposite_it_is_in_doubt() -> None:
    top = MIN_CONFIDENCE + 0.05
    close = ranking(("cancel_order", top), ("deny", top - MIN_MARGIN + 0.01))
    assert intent_in_doubt(close) == "cancel_order"
    far = ranking(("cancel_order", top), ("deny", top - MIN_MARGIN - 0.01))
    assert intent_in_doubt(far) is None


def test_only_order_changing_rivals_count() -> None:
    top = MIN_CONFIDENCE + 0.05
    assert intent_in_doubt(ranking(("affirm", top), ("greet", top - 0.1))) is None


def test_set_aside_by_the_fallback_classifier_it_is_in_doubt() -> None:
    set_aside = ranking(("nlu_fallback", 0.7), ("confirm_order", 0.5), ("order_status", 0.45))
    assert intent_in_doubt(set_aside) == "confirm_order"


@pytest.mark.parametrize(
    "pairs",
    [
        (("order_status", 0.5), ("confirm_order", 0.45)),
        (("nlu_fallback", 0.7), ("help", 0.5), ("cancel_order", 0.4)),
        (("nlu_fallback", 0.7),),
        (),
    ],
)
def test_other_intents_are_not_its_business(pairs: tuple[tuple[str, float], ...]) -> None:
    assert intent_in_doubt(ranking(*pairs)) is None
