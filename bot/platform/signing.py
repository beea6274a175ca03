"""JWTs signed with the secrets layer's key and accepted under the previous one too, so rotating
``JWT_SECRET`` neither logs every buyer out nor breaks the connect links in flight."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from bot.platform import secrets

ALGORITHM = "HS256"


def encode(claims: Mapping[str, Any]) -> str:
    return jwt.encode(dict(claims), secrets.jwt_key(), ALGORITHM)


def decode(
    token: str, *, audience: str, required: list[str], issuer: str | None = None
) -> dict[str, Any]:
    """The claims, if we signed the token (current key or previous) and every check holds.

    Raises ``jwt.InvalidSignatureError`` when no key signed it; any other ``InvalidTokenError``
    (expired, wrong audience...) is raised only once the signature is known to be ours.
    """
    *newer, last = secrets.jwt_keys()
    for key in newer:
        try:
            return _decode(token, key, audience, required, issuer)
        except jwt.InvalidSignatureError:
            continue
    return _decode(token, last, audience, required, issuer)


def _decode(
    token: str, key: str, audience: str, required: list[str], issuer: str | None
) -> dict[str, Any]:
    return jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        audience=audience,
        issuer=issuer,
        options={"require": required},
    )
