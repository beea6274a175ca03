"""The placeholder tokenizer: featurizers see a fixed word where an order id or a code stands."""

from __future__ import annotations

import random

import pytest
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.shop.codes import generate_code
from bot.shop.order_ids import new_order_id
from connectors.tokenizer import PLACEHOLDERS, PlaceholderWhitespaceTokenizer


@pytest.fixture(scope="module")
def tokenizer() -> PlaceholderWhitespaceTokenizer:
    config = {**PlaceholderWhitespaceTokenizer.get_default_config()}
    return PlaceholderWhitespaceTokenizer(config)


def words(tokenizer: PlaceholderWhitespaceTokenizer, text: str) -> list[str]:
    return [token.text for token in tokenizer.tokenize(Message(data={"text": text}), "text")]


def test_ids_and_codes_become_placeholders(tokenizer) -> None:
    """A code's symbols may split it into several tokens (``5Y%BARXE``): each is the placeholder."""
    code, order_id = generate_code(), new_order_id()
    said = words(tokenizer, f"cancel {order_id.lower()} abeg, code {code}")
    assert said[:4] == ["cancel", "__order_id__", "abeg", "code"]
    assert said[4:] and set(said[4:]) == {"__otp_code__"}
    assert words(tokenizer, "code 5Y%BARXE") == ["code", "__otp_code__", "__otp_code__"]


def test_every_token_a_match_touches_becomes_its_placeholder(tokenizer) -> None:
    """Against the obvious all-pairs check, on messages mixing words, ids, codes and noise."""
    rng = random.Random(7)
    for _ in range(300):
        parts = [
            rng.choice(["hi", "order", "#", ",", "abeg", "."]),
            new_order_id(),
            generate_code(),
            new_order_id().replace("-", ""),
        ]
        text = " ".join(rng.choice(parts) + rng.choice(["", ",", "!"]) for _ in range(12))
        message = Message(data={"text": text})
        tokens = tokenizer.tokenize(message, "text")
        expected = []
        for token in WhitespaceTokenizer.tokenize(tokenizer, message, "text"):
            word = token.text
            for pattern, placeholder in PLACEHOLDERS:
                for match in pattern.finditer(text):
                    if token.start < match.end() and match.start() < token.end:
                        word = placeholder
            expected.append(word)
        assert [token.text for token in tokens] == expected, text


def test_a_long_message_of_many_ids_is_tokenized(tokenizer) -> None:
    text = " ".join(new_order_id() for _ in range(2000))
    assert set(words(tokenizer, text)) == {"__order_id__"}
