"""Signed buyer session tokens (JWT, HS256) for the buyer portal.

Tokens are signed with the current key and accepted under the previous one too
(``JWT_SECRET_PREVIOUS``), so rotating the key does not log every buyer out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Dict, List

import jwt

from bot.platform import secrets as secret_store
from bot.platform.settings import Settings

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "shop", "iat", "exp", "jti"]


def issue_buyer_token(settings: Settings, *, shop_id: str, buyer_id: int) -> Dict[str, Any]:
    """Returns the claims and the encoded token; the caller audits the ``jti``."""
    now = dt.datetime.now(dt.timezone.utc)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(buyer_id),
        "shop": shop_id,
        "iat": now,
        "exp": now + dt.timedelta(seconds=settings.jwt_ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    return {"claims": claims, "token": jwt.encode(claims, _keys(settings)[0], ALGORITHM)}


def decode_buyer_token(settings: Settings, token: str) -> Dict[str, Any]:
    """Raises ``jwt.InvalidTokenError`` unless signature, issuer, audience and every claim hold."""
    *newer, last = _keys(settings)
    for key in newer:
        try:
            return _decode(settings, token, key)
        except jwt.InvalidSignatureError:
            continue
    return _decode(settings, token, last)


def _decode(settings: Settings, token: str, key: str) -> Dict[str, Any]:
    return jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        options={"require": REQUIRED_CLAIMS},
    )


def _keys(settings: Settings) -> List[str]:
    """The signing key first, then the previous one while a rotation lasts.

    They come from the secrets layer (the environment in development, the secret with
    META_SECRET_NAME, re-read every TTL), so a rotation needs no restart. A Settings with a key
    of its own (``jwt_secret``) signs and verifies with that key instead of the current one.
    """
    keys = secret_store.jwt_keys()
    return [settings.jwt_secret, *keys[1:]] if settings.jwt_secret else keys
