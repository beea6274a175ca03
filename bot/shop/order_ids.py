"""Order ids: ``ORD-`` and six Crockford base32 characters, typed by buyers however they like."""

from __future__ import annotations

import re
import secrets

from bot.platform.patterns import ORDER_ID_PATTERN

CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "ORD-"

_ORDER_ID_RE = re.compile(ORDER_ID_PATTERN)


def new_order_id() -> str:
    return PREFIX + "".join(secrets.choice(CROCKFORD_ALPHABET) for _ in range(6))


def normalize_order_id(typed: str) -> str | None:
    """``#ord7f3k9q`` → ``ORD-7F3K9Q``; anything that is not an order id → None."""
    match = _ORDER_ID_RE.fullmatch(typed.strip())
    if not match:
        return None
    body = match.group(0).lstrip("#").upper().replace("-", "")
    return PREFIX + body[3:]
