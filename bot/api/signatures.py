"""Signatures of the events POSTed to a shop's webhook, in Stripe's scheme:
``X-TrustGuard-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` under the
webhook's secret. The time is signed with the body, so a receiver that refuses old times
(``TOLERANCE``) refuses a replayed request; ``verify`` is what a receiver runs (README)."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-TrustGuard-Signature"
TOLERANCE = 300


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, tolerance: int = TOLERANCE, now: float | None = None
) -> bool:
    """Whether ``header`` signs ``body`` (the raw bytes received) under ``secret``, made at most
    ``tolerance`` seconds from now."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
