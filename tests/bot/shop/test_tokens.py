"""Buyer session tokens: a round trip keeps every claim; anything forged, foreign, stale or
incomplete is refused."""

import dataclasses
import datetime as dt
import uuid

import jwt
import pytest

from bot.platform import secrets as secret_store
from bot.platform.settings import get_settings
from bot.platform.signing import ALGORITHM, Purpose, key_for
from bot.shop.tokens import REQUIRED_CLAIMS, decode_buyer_token, issue_buyer_token
from tests.conftest import JWT_SECRET

BUYER_KEY = key_for(Purpose.BUYER, JWT_SECRET)
BUYER_TYP = {"typ": Purpose.BUYER.typ}


@pytest.fixture
def settings():
    return get_settings()


def own_claims(settings, **overrides):
    now = dt.datetime.now(dt.timezone.utc)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": "42",
        "shop": "mama-put",
        "iat": now,
        "exp": now + dt.timedelta(minutes=5),
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return claims


def test_round_trip_keeps_every_claim(settings):
    issued = issue_buyer_token(settings, shop_id="mama-put", buyer_id=42)
    decoded = decode_buyer_token(settings, issued["token"])
    assert set(REQUIRED_CLAIMS) <= set(decoded)
    assert decoded["iss"] == settings.jwt_issuer == "trustguard"
    assert decoded["aud"] == settings.jwt_audience
    assert decoded["sub"] == "42"
    assert decoded["shop"] == "mama-put"
    assert decoded["jti"] == issued["claims"]["jti"]
    assert decoded["exp"] - decoded["iat"] == settings.jwt_ttl_seconds
    assert decoded["iat"] == int(issued["claims"]["iat"].timestamp())


def test_tokens_are_signed_with_hs256_and_the_configured_secret(settings):
    token = issue_buyer_token(settings, shop_id="mama-put", buyer_id=7)["token"]
    assert jwt.get_unverified_header(token)["alg"] == ALGORITHM == "HS256"
    claims = jwt.decode(token, BUYER_KEY, algorithms=["HS256"], audience=settings.jwt_audience)
    assert claims["sub"] == "7"


def test_each_token_has_its_own_jti(settings):
    jtis = {
        issue_buyer_token(settings, shop_id="mama-put", buyer_id=1)["claims"]["jti"]
        for _ in range(50)
    }
    assert len(jtis) == 50


def test_ttl_comes_from_settings(monkeypatch):
    monkeypatch.setenv("JWT_TTL_SECONDS", "90")
    get_settings.cache_clear()
    settings = get_settings()
    decoded = decode_buyer_token(
        settings, issue_buyer_token(settings, shop_id="s", buyer_id=1)["token"]
    )
    assert decoded["exp"] - decoded["iat"] == 90


def _tamper_payload(token):
    header, payload, signature = token.split(".")
    forged = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"sub":"42"', b'"sub":"43"')
    ).decode()
    assert forged != payload
    return ".".join([header, forged, signature])


def _tamper_signature(token):
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return ".".join([header, payload, flipped])


@pytest.mark.parametrize("tamper", [_tamper_payload, _tamper_signature])
def test_tampered_token_is_refused(settings, tamper):
    token = issue_buyer_token(settings, shop_id="mama-put", buyer_id=42)["token"]
    with pytest.raises(jwt.InvalidTokenError):
        decode_buyer_token(settings, tamper(token))


def test_token_signed_with_another_secret_is_refused(settings, monkeypatch):
    with monkeypatch.context() as another_key:
        another_key.setenv("JWT_SECRET", "another-secret-0123456789abcdefghijklm")
        secret_store.reset_cache()
        token = issue_buyer_token(settings, shop_id="mama-put", buyer_id=42)["token"]
    secret_store.reset_cache()
    with pytest.raises(jwt.InvalidSignatureError):
        decode_buyer_token(settings, token)


def test_token_for_another_audience_is_refused(settings):
    other = dataclasses.replace(settings, jwt_audience="someone-else")
    token = issue_buyer_token(other, shop_id="mama-put", buyer_id=42)["token"]
    with pytest.raises(jwt.InvalidAudienceError):
        decode_buyer_token(settings, token)


def test_token_from_another_issuer_is_refused(settings):
    token = jwt.encode(own_claims(settings, iss="mallory"), BUYER_KEY, ALGORITHM, headers=BUYER_TYP)
    with pytest.raises(jwt.InvalidIssuerError):
        decode_buyer_token(settings, token)


def test_expired_token_is_refused(settings):
    already_expired = dataclasses.replace(settings, jwt_ttl_seconds=-60)
    token = issue_buyer_token(already_expired, shop_id="mama-put", buyer_id=42)["token"]
    with pytest.raises(jwt.ExpiredSignatureError):
        decode_buyer_token(settings, token)


def test_own_claims_are_accepted(settings):
    """The hand-made claims below are valid as a whole, so each refusal is about one claim."""
    token = jwt.encode(own_claims(settings), BUYER_KEY, ALGORITHM, headers=BUYER_TYP)
    assert decode_buyer_token(settings, token)["shop"] == "mama-put"


@pytest.mark.parametrize("missing", REQUIRED_CLAIMS)
def test_token_missing_a_required_claim_is_refused(settings, missing):
    claims = own_claims(settings)
    del claims[missing]
    token = jwt.encode(claims, BUYER_KEY, ALGORITHM, headers=BUYER_TYP)
    with pytest.raises(jwt.InvalidTokenError):
        decode_buyer_token(settings, token)


def test_unsigned_token_is_refused(settings):
    token = jwt.encode(own_claims(settings), None, algorithm="none")
    with pytest.raises(jwt.InvalidTokenError):
        decode_buyer_token(settings, token)


def test_garbage_is_refused(settings):
    with pytest.raises(jwt.InvalidTokenError):
        decode_buyer_token(settings, "not-a-token")
