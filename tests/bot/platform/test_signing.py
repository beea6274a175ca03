"""Tokens of one purpose are never accepted as another's, and every key is long enough."""

from __future__ import annotations

import jwt
import pytest

from bot.platform import secrets
from bot.platform.settings import ConfigurationError
from bot.platform.signing import Purpose, decode, encode, key_for
from tests.conftest import JWT_SECRET

CLAIMS = {"aud": "trustguard-oauth", "shop": "mama-put", "platform": "whatsapp", "nonce": "n"}


def test_each_purpose_has_a_key_of_its_own() -> None:
    assert key_for(Purpose.BUYER, JWT_SECRET) != key_for(Purpose.OAUTH_STATE, JWT_SECRET)
    assert JWT_SECRET.encode() not in (key_for(Purpose.BUYER, JWT_SECRET),)


def test_a_token_is_accepted_for_its_own_purpose() -> None:
    token = encode(CLAIMS, Purpose.OAUTH_STATE)
    claims = decode(
        token, purpose=Purpose.OAUTH_STATE, audience="trustguard-oauth", required=["nonce"]
    )
    assert claims == CLAIMS


def test_a_token_made_for_one_purpose_is_refused_as_another() -> None:
    token = encode(CLAIMS, Purpose.OAUTH_STATE)
    with pytest.raises(jwt.InvalidTokenError, match="not a buyer token"):
        decode(token, purpose=Purpose.BUYER, audience="trustguard-oauth", required=[])


def test_the_typ_header_alone_does_not_make_a_token_valid() -> None:
    """A state re-labelled as a buyer token is signed with the wrong key."""
    forged = jwt.encode(
        CLAIMS,
        key_for(Purpose.OAUTH_STATE, JWT_SECRET),
        "HS256",
        headers={"typ": Purpose.BUYER.typ},
    )
    with pytest.raises(jwt.InvalidSignatureError):
        decode(forged, purpose=Purpose.BUYER, audience="trustguard-oauth", required=[])


def test_a_token_signed_with_the_raw_secret_is_refused() -> None:
    raw = jwt.encode(CLAIMS, JWT_SECRET, "HS256", headers={"typ": Purpose.OAUTH_STATE.typ})
    with pytest.raises(jwt.InvalidSignatureError):
        decode(raw, purpose=Purpose.OAUTH_STATE, audience="trustguard-oauth", required=[])


@pytest.mark.parametrize("previous", ["short", "x" * 31])
def test_a_short_previous_key_stops_the_start(monkeypatch, previous: str) -> None:
    monkeypatch.setenv("JWT_SECRET_PREVIOUS", previous)
    secrets.reset_cache()
    with pytest.raises(ConfigurationError, match="JWT_SECRET_PREVIOUS"):
        secrets.check_jwt_key()
