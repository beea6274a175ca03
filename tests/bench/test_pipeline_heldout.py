"""The held-out set stays held out: ``make test`` fails as soon as one of its messages is also
trained on (data/) or tested on (tests/stories/), so the benchmark keeps measuring messages the
model has never seen."""

from __future__ import annotations

from bench.pipeline_heldout import (
    HELDOUT,
    MIN_HELDOUT,
    Example,
    heldout_problems,
    load_examples,
    story_texts,
)
from bot.platform.settings import PROJECT_ROOT


def test_the_heldout_set_is_held_out() -> None:
    examples = load_examples(HELDOUT)
    assert len(examples) >= MIN_HELDOUT
    assert heldout_problems(examples) == []


def test_a_trained_text_is_refused_whatever_its_case_and_spacing() -> None:
    trained = load_examples(PROJECT_ROOT / "data")[0]
    retyped = "  " + "   ".join(trained.text.upper().split()) + " "
    examples = [*load_examples(HELDOUT), Example(retyped, trained.intent, frozenset())]
    assert heldout_problems(examples) == [f"{retyped!r} is in data/"]


def test_a_tested_text_is_refused() -> None:
    tested = next(iter(story_texts()))
    examples = [*load_examples(HELDOUT), Example(tested.title(), "greet", frozenset())]
    assert heldout_problems(examples) == [f"{tested.title()!r} is in tests/stories/"]


def test_too_small_a_set_is_refused() -> None:
    examples = load_examples(HELDOUT)[: MIN_HELDOUT - 1]
    assert heldout_problems(examples) == [
        f"only {MIN_HELDOUT - 1} messages, fewer than {MIN_HELDOUT}"
    ]
