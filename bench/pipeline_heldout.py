"""The messages the pipeline benchmark scores understanding on: ``bench/heldout.yml``, checked to
be held out from what the configurations train and are tested on, and messages carrying the
one-time codes and order ids the app really issues, typed the ways buyers send them back."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.platform.patterns import ORDER_ID_PATTERN, OTP_CODE_PATTERN
from bot.platform.settings import PROJECT_ROOT
from bot.shop import codes, order_ids

HELDOUT = PROJECT_ROOT / "bench" / "heldout.yml"
ENTITY_PATTERNS = {"order_id": ORDER_ID_PATTERN, "otp_code": OTP_CODE_PATTERN}
MIN_HELDOUT = 300
ISSUED_PER_KIND = 150
ISSUED_SEED = 7
# How buyers send back what the assistant issued: (template, intent, typed as issued or lower).
ISSUED_TEMPLATES = {
    "otp_code": (
        ("verify {}", "verify_otp", str.upper),
        ("{}", "verify_otp", str.upper),
        ("my code is {}", "verify_otp", str.upper),
        ("{}", "verify_otp", str.lower),
    ),
    "order_id": (
        ("order {}", "order_status", str.upper),
        ("confirm {}", "confirm_order", str.lower),
        ("cancel {} changed my mind", "cancel_order", str.upper),
        (
            "upload receipt for {}",
            "upload_receipt",
            lambda order_id: "#" + order_id.replace("-", ""),
        ),
    ),
}


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: frozenset


def load_examples(path: Path) -> list[Example]:
    """With Rasa's own readers, so the texts are exactly what ``rasa test nlu`` sees (a
    directory's NLU files only, as ``--nlu data`` reads them)."""
    from rasa.shared.data import get_data_files, is_nlu_file
    from rasa.shared.nlu.training_data.loading import load_data

    return [
        Example(
            message.get("text"),
            message.get("intent"),
            frozenset((e["entity"], e["value"]) for e in message.get("entities") or []),
        )
        for file in sorted(get_data_files([str(path)], is_nlu_file))
        for message in load_data(file).intent_examples
    ]


def normalized(text: str) -> str:
    return " ".join(text.lower().split())


def story_texts() -> Iterator[str]:
    """The user texts of tests/stories/, annotations removed."""
    for path in (PROJECT_ROOT / "tests" / "stories").glob("*.yml"):
        for story in yaml.safe_load(path.read_text()).get("stories", []):
            for step in story.get("steps", []):
                if "user" in step:
                    yield re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", step["user"]).strip()


def heldout_problems(examples: Sequence[Example]) -> list[str]:
    """Why the held-out set would not measure generalisation, if it would not."""
    trained = {normalized(e.text) for e in load_examples(PROJECT_ROOT / "data")}
    tested = {normalized(text) for text in story_texts()}
    problems = []
    if len(examples) < MIN_HELDOUT:
        problems.append(f"only {len(examples)} messages, fewer than {MIN_HELDOUT}")
    seen: set = set()
    for example in examples:
        key = normalized(example.text)
        if key in trained:
            problems.append(f"{example.text!r} is in data/")
        if key in tested:
            problems.append(f"{example.text!r} is in tests/stories/")
        if key in seen:
            problems.append(f"{example.text!r} appears twice")
        seen.add(key)
        for entity, value in example.entities:
            if not re.fullmatch(ENTITY_PATTERNS[entity], value):
                problems.append(f"{value!r} is not an {entity} of data/patterns.yml")
    return problems


def issued_values(kind: str, count: int, rng: random.Random) -> list[str]:
    """Codes as bot.shop.codes.generate_code draws them and order ids as
    bot.shop.order_ids.new_order_id does, from the same alphabets, but seeded: every run and
    configuration gets the same."""
    values: list[str] = []
    while len(values) < count:
        if kind == "order_id":
            values.append(
                order_ids.PREFIX + "".join(rng.choices(order_ids.CROCKFORD_ALPHABET, k=6))
            )
            continue
        code = "".join(rng.choices(codes.ALPHABET, k=codes.CODE_LENGTH))
        if set(code) & set(codes.DIGITS) and set(code) & set(codes.SYMBOLS):
            values.append(code)
    return values


def issued_examples() -> dict[str, list[Example]]:
    """Messages that carry a one-time code or an order id the app really issues, typed the ways
    buyers send them back. Unlike the handwritten held-out set, they cover every shape a code
    can take (a symbol first or last, ``%`` between letters...)."""
    rng = random.Random(ISSUED_SEED)
    examples: dict[str, list[Example]] = {}
    for kind, templates in ISSUED_TEMPLATES.items():
        values = issued_values(kind, ISSUED_PER_KIND, rng)
        examples[kind] = []
        for index, value in enumerate(values):
            template, intent, typed_as = templates[index % len(templates)]
            typed = typed_as(value)
            examples[kind].append(
                Example(template.format(typed), intent, frozenset({(kind, typed)}))
            )
    return examples
