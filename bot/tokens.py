"""Signed buyer session tokens (JWT, HS256) for the buyer portal."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Dict

import jwt

from bot.settings import Settings

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
    return {"claims": claims, "token": jwt.encode(claims, settings.jwt_secret, ALGORITHM)}


def decode_buyer_token(settings: Settings, token: str) -> Dict[str, Any]:
    """Raises ``jwt.InvalidTokenError`` unless signature, issuer, audience and every claim hold."""
    return jwt.decode(
        token,
        settings.jwt_secret,
        algorithms=[ALGORITHM],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        options={"require": REQUIRED_CLAIMS},
    )
