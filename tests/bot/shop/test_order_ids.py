"""Order ids: generation, normalisation of however buyers type them, and finding them in text."""

import re

import pytest

from bot.platform.patterns import ORDER_ID_PATTERN
from bot.shop.order_ids import CROCKFORD_ALPHABET, new_order_id, normalize_order_id

NEW_ID_RE = re.compile(r"ORD-[0-9A-HJKMNP-TV-Z]{6}")


def test_crockford_alphabet_has_no_look_alikes():
    assert len(CROCKFORD_ALPHABET) == 32
    assert not set("ILOU") & set(CROCKFORD_ALPHABET)


def test_new_ids_are_ord_and_six_crockford_characters():
    ids = [new_order_id() for _ in range(500)]
    for order_id in ids:
        assert NEW_ID_RE.fullmatch(order_id), order_id
        assert not set("ILOU") & set(order_id[4:])
    assert len(set(ids)) > 490


def test_new_ids_normalise_to_themselves():
    for _ in range(100):
        order_id = new_order_id()
        assert normalize_order_id(order_id) == order_id


@pytest.mark.parametrize(
    "typed",
    [
        "ORD-7F3K9Q",
        "ord-7f3k9q",
        "Ord-7F3k9q",
        "ORD7F3K9Q",
        "ord7f3k9q",
        "#ORD-7F3K9Q",
        "#ord7f3k9q",
        "  ORD-7F3K9Q  ",
        "\t#ord-7f3k9q\n",
    ],
)
def test_normalize_accepts_how_buyers_type_an_id(typed):
    assert normalize_order_id(typed) == "ORD-7F3K9Q"


@pytest.mark.parametrize(
    "typed",
    [
        "ORD-7F3K9I",  # I is not Crockford
        "ORD-7F3K9L",  # nor L
        "ORD-7F3K9O",  # nor O
        "ORD-7F3K9U",  # nor U
        "ORD-7F3K9",  # too short
        "ORD-7F3K9QQ",  # too long
        "ORDER-7F3K9Q",
        "ORD--7F3K9Q",
        "##ORD-7F3K9Q",
        "ORD 7F3K9Q",
        "7F3K9Q",
        "ORD-",
        "",
        "   ",
        "ORD-7F3K9Q please",
    ],
)
def test_normalize_rejects_what_is_not_an_order_id(typed):
    assert normalize_order_id(typed) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("please confirm ORD-7F3K9Q thanks", "ORD-7F3K9Q"),
        ("abeg cancel #ord7f3k9q, wrong size", "ORD-7F3K9Q"),
        ("where is my order (ord-2b8xh4)?", "ORD-2B8XH4"),
        ("ORD-K8N2DF.", "ORD-K8N2DF"),
        ("first ORD-7F3K9Q then ORD-2B8XH4", "ORD-7F3K9Q"),
    ],
)
def test_the_pattern_finds_the_order_id_in_a_sentence(text, expected):
    """What the entity extractor finds (data/patterns.yml holds the same pattern)."""
    assert normalize_order_id(re.search(ORDER_ID_PATTERN, text).group(0)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "XORD-7F3K9Q is not an id",
        "the code ORD-7F3K9QX is too long",
        "WORD7F3K9Q",
        "1ORD-7F3K9Q",
        "ORD-7F3K9Q2",
        "no order id here",
        "ORDER-7F3K9Q",
        "",
    ],
)
def test_the_pattern_ignores_ids_inside_longer_words(text):
    assert re.search(ORDER_ID_PATTERN, text) is None
