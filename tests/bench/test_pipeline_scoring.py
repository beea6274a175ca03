"""The held-out scores that matter for orders: misreadings that change or block one, and the
per-intent confusion."""

from __future__ import annotations

from collections import Counter

from bench.pipeline_heldout import Example
from bench.pipeline_scoring import Parsed, asked_first, confusion, opposites


def parsed(text: str, meant: str, top: str, served: str | None = None) -> Parsed:
    return Parsed(
        Example(text, meant, frozenset()),
        served or top,
        [(top, 0.9), ("greet", 0.1)],
        frozenset(),
        0.01,
    )


def test_opposites_both_ways_and_only_those() -> None:
    messages = [
        parsed("I wan cancel am", "cancel_order", "deny"),
        parsed("no abeg", "deny", "cancel_order"),
        parsed("approve my order", "confirm_order", "order_status"),
        parsed("where my order", "order_status", "confirm_order"),
        parsed("yes", "affirm", "confirm_order"),
        parsed("I need assistance", "help", "cancel_order"),
        parsed("cancel", "cancel_order", "cancel_order"),
    ]
    assert [p.example.text for p in opposites(messages)] == [
        "I wan cancel am",
        "no abeg",
        "approve my order",
        "where my order",
    ]


def test_a_message_set_aside_is_not_acted_on_as_its_opposite() -> None:
    unsure = parsed("I wan cancel am", "cancel_order", "deny", served="nlu_fallback")
    assert opposites([unsure]) == [unsure]
    assert opposites([unsure], served=True) == []
    assert asked_first([unsure]) == [unsure]
    assert asked_first([parsed("hmm", "help", "greet", served="nlu_fallback")]) == []


def test_confusion_counts_the_top_intent_per_intent_meant() -> None:
    messages = [
        parsed("yo", "greet", "affirm"),
        parsed("hi", "greet", "greet"),
        parsed("hello", "greet", "greet"),
        parsed("thanks", "thanks", "thanks"),
    ]
    assert confusion(messages) == {
        "greet": Counter({"greet": 2, "affirm": 1}),
        "thanks": Counter({"thanks": 1}),
    }
