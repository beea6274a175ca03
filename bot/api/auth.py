"""Who calls: the shop of the API key in ``Authorization: Bearer <key>``, and how often it may.

A missing, unknown or revoked key gets the same 401, so a caller learns nothing about keys it
does not hold. Each key may make ``API_RATE_LIMIT`` requests a minute, in bursts of as many;
beyond that a 429 says when to try again (``Retry-After``). The limit is kept per API process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.api.errors import ApiError
from bot.platform.db import session_scope
from bot.shop import api_keys

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="trustguard"'}


@dataclass(frozen=True)
class Caller:
    """A valid key: its id, its shop, and how the audit trail names it (by id: no part of a
    key is ever written down)."""

    key_id: int
    shop_id: str
    label: str


def caller_of(authorization: str | None) -> Caller:
    """The caller of ``Authorization``, or the 401. Reads the database: call off the loop."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(
            401,
            "unauthorized",
            "Send your shop's API key as `Authorization: Bearer <key>` "
            "(python -m bot apikey create --shop <shop>).",
            headers=_CHALLENGE,
        )
    with session_scope() as session:
        key = api_keys.authenticate(session, presented.strip())
        if key is None:
            raise ApiError(
                401, "unauthorized", "This API key is not valid or was revoked.", headers=_CHALLENGE
            )
        return Caller(key.id, key.shop_id, f"api key {key.id}")


class RateLimiter:
    """A token bucket per key: ``per_minute`` tokens, refilled evenly over the minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}

    def check(self, key_id: int) -> None:
        """Take one request from the key's bucket, or raise the 429 saying when to retry."""
        now = self._clock()
        tokens, then = self._buckets.get(key_id, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - then) * self._rate)
        if tokens < 1:
            self._buckets[key_id] = (tokens, now)
            wait = math.ceil((1 - tokens) / self._rate)
            raise ApiError(
                429,
                "rate_limited",
                f"Too many requests with this key; try again in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        self._buckets[key_id] = (tokens - 1, now)
