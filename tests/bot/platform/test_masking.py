"""Masking: codes, tokens, signed URLs and phone numbers never reach logs or audit rows, while
order ids, amounts and ordinary words stay readable."""

import json
import random
import re

import pytest

from bot.platform.masking import REDACTED, mask_user_id, redact, redact_text
from bot.platform.settings import get_settings
from bot.shop.codes import generate_code
from bot.shop.tokens import issue_buyer_token

SIGNED_URL = (
    "https://test-receipts.s3.amazonaws.com/mama-put/ORD-7F3K9Q/receipt.jpg"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20240501"
    "&X-Amz-Signature=0123456789abcdef0123456789abcdef"
)


@pytest.mark.parametrize(
    ("user_id", "masked"),
    [
        ("2348012345678", "***5678"),
        ("17841400000012345", "***2345"),
        ("12345", "***2345"),
        ("1234", "***"),
        ("", "***"),
        (None, "***"),
    ],
)
def test_mask_user_id_keeps_only_the_last_four(user_id, masked):
    assert mask_user_id(user_id) == masked


def test_mask_user_id_never_shows_more_than_four_characters():
    user_id = "2348012345678"
    masked = mask_user_id(user_id)
    assert masked.startswith("***")
    assert masked[3:] == user_id[-4:]
    assert user_id[:-4] not in masked


@pytest.mark.parametrize(
    "template",
    [
        "your code is {}",
        "{}",
        "verify {} abeg",
        "code: {}.",
        'the code na "{}"',
        "({}) is my code",
        "codes {} and {}",
    ],
)
def test_redact_text_removes_generated_codes(template):
    for _ in range(300):
        code = generate_code()
        for typed in (code, code.lower()):
            text = template.format(typed, typed)
            redacted = redact_text(text)
            assert typed not in redacted, text
            assert REDACTED in redacted


def test_redact_text_removes_jwts():
    token = issue_buyer_token(get_settings(), shop_id="mama-put", buyer_id=42)["token"]
    redacted = redact_text(f"portal link https://portal.example/login#{token} sent; raw {token}")
    assert token not in redacted
    for part in token.split("."):
        assert part not in redacted
    assert redacted.count(REDACTED) == 2


def test_redact_text_removes_the_query_of_signed_urls():
    redacted = redact_text(f"upload here: {SIGNED_URL} (valid 10 minutes)")
    base = SIGNED_URL.split("?")[0]
    assert redacted == f"upload here: {base}?{REDACTED} (valid 10 minutes)"
    assert "X-Amz-Signature" not in redacted
    assert "AKIAEXAMPLE" not in redacted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call 2348012345678 now", "call ***5678 now"),
        ("call +2348012345678.", "call ***5678."),
        ("my number is +234 801 234 5678", "my number is ***5678"),
        ("2348012345678 and 2348099990000", "***5678 and ***0000"),
        # Buyers mostly type their number in the local 11-digit form (0801 234 5678).
        ("my number na 08012345678", "my number na ***5678"),
        ("call me on 0801 234 5678", "call me on ***5678"),
        ("whatsapp: 08012345678.", "whatsapp: ***5678."),
    ],
)
def test_redact_text_masks_international_and_local_nigerian_phone_numbers(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "confirm ORD-7F3K9Q please",
        "cancel #ord-2b8xh4 wrong size",
        "status ORDK4M9PZ and #ORDQ9M5AC",
        "Total ₦25,000.00 for 2 items",
        "paid ₦2,500,000.50 on 2024-05-01 at 14:05",
        "hello, how far? I want to register and verify my account",
        "Mama Put Fabrics: 3 yards of ankara, delivery to Ikeja",
        "password checkout tracking",
    ],
)
def test_redact_text_leaves_ordinary_text_alone(text):
    assert redact_text(text) == text


def test_redact_drops_sensitive_keys_and_recurses():
    code = generate_code()
    value = {
        "url": SIGNED_URL,
        "fields": {"key": "mama-put/ORD-7F3K9Q/receipt.jpg", "x-amz-date": "20240501"},
        "Policy": "eyJleHBpcmF0aW9uIjoi",
        "signature": "abc123",
        "order_id": "ORD-7F3K9Q",
        "amount": "₦25,000.00",
        "count": 3,
        "ok": True,
        "nothing": None,
        "history": [
            {"text": f"my code is {code}", "buyer": "2348012345678"},
            ("token", {"token": "secret-value", "note": "fine"}),
        ],
    }
    redacted = redact(value)
    assert redacted["fields"] == REDACTED
    assert redacted["Policy"] == REDACTED
    assert redacted["signature"] == REDACTED
    assert redacted["url"] == SIGNED_URL.split("?")[0] + "?" + REDACTED
    assert redacted["order_id"] == "ORD-7F3K9Q"
    assert redacted["amount"] == "₦25,000.00"
    assert redacted["count"] == 3
    assert redacted["ok"] is True
    assert redacted["nothing"] is None
    first, second = redacted["history"]
    assert first == {"text": f"my code is {REDACTED}", "buyer": "***5678"}
    assert second == ["token", {"token": REDACTED, "note": "fine"}]


def test_redact_does_not_change_its_input():
    value = {"signature": "abc", "items": ["2348012345678"]}
    redact(value)
    assert value == {"signature": "abc", "items": ["2348012345678"]}


# The searches behind redact_text are linear; the obvious regexes are their oracle.

OBVIOUS_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
OBVIOUS_SIGNED_QUERY = re.compile(r"(https?://[^\s?]+)\?[^\s]+")


def obvious(text: str) -> str:
    text = OBVIOUS_JWT.sub(REDACTED, text)
    return OBVIOUS_SIGNED_QUERY.sub(lambda m: f"{m.group(1)}?{REDACTED}", text)


def test_tokens_and_signed_urls_are_found_exactly_where_the_obvious_patterns_find_them():
    pieces = ["eyJ", "e", "y", "J", ".", "a", "-", " ", "http://", "https://", "?", ":", "/", "\n"]
    rng = random.Random(11)
    for _ in range(50_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        assert redact_text(text) == obvious(text), repr(text)


@pytest.mark.parametrize(
    "text", ["eyJ" * 40_000, "http://" * 6_000, "http://" * 6_000 + "?", "x" + "eyJ" * 40_000]
)
def test_text_built_to_be_slow_holds_nothing_to_redact(text):
    """Each of these took the obvious patterns seconds to minutes (quadratic time)."""
    assert redact_text(text) == text


def test_a_long_run_of_tokens_is_redacted_token_by_token():
    text = "eyJa.b.c." * 20_000
    assert redact_text(text) == f"{REDACTED}." * 20_000


FORM = {
    "key": "shops/mama-put/orders/ORD-7F3K9Q/receipts/a.jpg",
    "AWSAccessKeyId": "AKIAEXAMPLEKEY",
    "policy": "eyJleHBpcmF0aW9uIjogIjIwMjYtMTItMDJUMDU6MDA6MDBaIiwgImNvbmRpdGlvbnMiOiBbXX0=",
    "signature": "VX7ANcNDirlQQ8k0cWgprhH2xvo=",
    "x-amz-signature": "0123456789abcdef0123456789abcdef",
    "x-amz-credential": "AKIAEXAMPLEKEY/20261202/us-east-1/s3/aws4_request",
}


@pytest.mark.parametrize(
    "written", [str(FORM), json.dumps(FORM), json.dumps(json.dumps({"fields": FORM}))]
)
def test_a_signed_form_written_out_as_text_loses_its_secrets(written):
    """As a debug log line prints a bot message's custom payload."""
    redacted = redact_text(written)
    for name in ("AWSAccessKeyId", "policy", "signature", "x-amz-signature", "x-amz-credential"):
        assert FORM[name] not in redacted, name
    assert FORM["key"] in redacted


@pytest.mark.parametrize(
    "text",
    [
        "our return policy: 7 days",
        '"policy": "policy_1_RulePolicy"',
        "the signature on the receipt is blurry",
        "my token: expired?",
    ],
)
def test_words_that_name_secrets_are_left_alone_in_ordinary_text(text):
    assert redact_text(text) == text


def test_shops_api_keys_and_webhook_secrets_are_redacted() -> None:
    key = "tgk_" + "Ab3-_x" * 7
    secret = "whsec_" + "Zz9_-q" * 7
    line = f"Authorization: Bearer {key} signed with {secret}; see tgk_ docs, whsec_short"
    redacted = redact_text(line)
    assert key not in redacted and secret not in redacted
    assert redacted == (
        "Authorization: Bearer [redacted] signed with [redacted]; see tgk_ docs, whsec_short"
    )
