"""Signed buyer session tokens (JWT, HS256) for the buyer portal.

Tokens are signed with the current key and accepted under the previous one too
(``JWT_SECRET_PREVIOUS``), so rotating the key does not log every buyer out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from bot.platform import signing
from bot.platform.settings import Settings

REQUIRED_CLAIMS = ["iss", "aud", "sub", "shop", "iat", "exp", "jti"]


def issue_buyer_token(settings: Settings, *, shop_id: str, buyer_id: int) -> dict[str, Any]:
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
    return {"claims": claims, "token": signing.encode(claims, signing.Purpose.BUYER)}


def decode_buyer_token(settings: Settings, token: str) -> dict[str, Any]:
    """Raises ``jwt.InvalidTokenError`` unless signature, issuer, audience and every claim hold."""
    return signing.decode(
        token,
        purpose=signing.Purpose.BUYER,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        required=REQUIRED_CLAIMS,
    )
