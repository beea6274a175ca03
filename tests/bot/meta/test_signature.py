"""``X-Hub-Signature-256``: the header Meta signs its webhooks with, and its check."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot.meta.signature import signature_header, signature_is_valid


def test_the_header_is_the_hmac_sha256_of_the_raw_body_under_the_app_secret() -> None:
    """The expected values are made here, by hmac and by RFC 4231 (test case 2), never by the
    signer: every other test signs with ``signature_header``, so this is what checks its maths."""
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    expected = "sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    assert signature_header("app-secret", body) == expected
    assert signature_header("Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    assert signature_is_valid(["app-secret"], body, expected)
    assert not signature_is_valid(["app-secret"], body + b" ", expected)


def test_signatures_are_checked_against_each_secret_but_never_an_empty_one() -> None:
    body = b'{"object": "whatsapp_business_account"}'
    assert signature_is_valid(["a", "b"], body, signature_header("b", body))
    assert not signature_is_valid(["a", "b"], body, signature_header("c", body))
    assert not signature_is_valid(["", "a"], body, signature_header("", body))
    assert not signature_is_valid([], body, signature_header("", body))
    with pytest.raises(TypeError):
        signature_is_valid("a-single-secret", body, signature_header("a", body))
