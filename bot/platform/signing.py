"""JWTs signed with keys derived from the secrets layer's ``JWT_SECRET``, one key and one ``typ``
per purpose (a buyer token is never accepted as an OAuth state, nor the reverse), and accepted
under the previous secret too, so rotating it neither logs every buyer out nor breaks the
connect links in flight."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.platform import secrets

ALGORITHM = "HS256"


class Purpose(str, enum.Enum):
    """What a token is for."""

    BUYER = "buyer"
    CONNECT_LINK = "connect-link"
    OAUTH_STATE = "oauth-state"

    @property
    def typ(self) -> str:
        return f"trustguard-{self.value}+jwt"


def key_for(purpose: Purpose, secret: str) -> bytes:
    """A key of its own per purpose."""
    return derived_key(secret, purpose.value)


def derived_key(secret: str, use: str) -> bytes:
    """HKDF-SHA256 of the secret with ``trustguard/<use>`` as its info: one secret, independent
    keys for unrelated uses."""
    info = f"trustguard/{use}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


def encode(claims: Mapping[str, Any], purpose: Purpose) -> str:
    key = key_for(purpose, secrets.jwt_key())
    return jwt.encode(dict(claims), key, ALGORITHM, headers={"typ": purpose.typ})


def decode(
    token: str,
    *,
    purpose: Purpose,
    audience: str,
    required: list[str],
    issuer: str | None = None,
) -> dict[str, Any]:
    """The claims, if we signed the token for this purpose (under the current secret or the
    previous one) and every check holds.

    Raises ``jwt.InvalidTokenError`` for a token of another ``typ``, ``jwt.InvalidSignatureError``
    when no key signed it; any other ``InvalidTokenError`` (expired, wrong audience...) only once
    the signature is known to be ours.
    """
    if jwt.get_unverified_header(token).get("typ") != purpose.typ:
        raise jwt.InvalidTokenError(f"not a {purpose.value} token")
    *newer, last = (key_for(purpose, secret) for secret in secrets.jwt_keys())
    for key in newer:
        try:
            return _decode(token, key, audience, required, issuer)
        except jwt.InvalidSignatureError:
            continue
    return _decode(token, last, audience, required, issuer)


def _decode(
    token: str, key: bytes, audience: str, required: list[str], issuer: str | None
) -> dict[str, Any]:
    return jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        audience=audience,
        issuer=issuer,
        options={"require": required},
    )
