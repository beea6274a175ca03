"""The per-key token bucket: a burst of the limit, then one request per 60/limit seconds."""

from __future__ import annotations

import pytest

from bot.api.auth import RateLimiter
from bot.api.errors import ApiError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_refill_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(6, clock)  # one every 10 s
    for _ in range(6):
        limiter.check(1)
    with pytest.raises(ApiError) as refused:
        limiter.check(1)
    assert (refused.value.status, refused.value.headers) == (429, {"Retry-After": "10"})
    limiter.check(2)  # another key has its own bucket
    clock.now += 9
    with pytest.raises(ApiError) as still:
        limiter.check(1)
    assert still.value.headers["Retry-After"] == "1"
    clock.now += 1
    limiter.check(1)
    clock.now += 3600  # an idle key gets its burst back, never more
    for _ in range(6):
        limiter.check(1)
    with pytest.raises(ApiError):
        limiter.check(1)
