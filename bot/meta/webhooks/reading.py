"""Reading Meta's JSON without trusting it: every helper returns a typed value or raises
``Malformed`` with a reason that holds no user data, so one bad piece is skipped, not the batch.

What a helper returns can be stored as it is: the inbox writes ids to columns of bounded length
and text to JSON, on SQLite or PostgreSQL, and a value either refuses would refuse the whole
webhook, again at every redelivery.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeGuard, TypeVar

from bot.meta.webhooks.types import Media
from bot.platform.models import InboxMessage

logger = logging.getLogger(__name__)

_DIGITS = re.compile(r"[0-9]{1,16}")
# Every id Meta sends is printable ASCII without spaces: never a NUL, which PostgreSQL refuses.
_ID = re.compile(r"[!-~]+")
# NUL, and the halves of surrogate pairs that JSON escapes can give unpaired: no database or
# UTF-8 encoder takes them, and Meta never sends them in text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Each id at most as long as the inbox column that holds it.
ACCOUNT_ID = InboxMessage.account_id.type.length
SENDER_ID = InboxMessage.sender.type.length
MESSAGE_ID = InboxMessage.platform_message_id.type.length
# The inbox stores a timestamp as a datetime, and datetimes end with the year 9999.
_LATEST = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc).timestamp()

T = TypeVar("T")


class Malformed(Exception):
    """A required field is missing or of the wrong type; the reason must hold no user data."""


class Content(NamedTuple):
    kind: str
    original_type: str
    text: str | None = None
    title: str | None = None
    media: Media | None = None


def parse_each(
    items: Iterator[dict[str, Any]],
    parse: Callable[[dict[str, Any]], T | None],
    channel: str,
    what: str,
) -> list[T]:
    parsed: list[T] = []
    for item in items:
        try:
            result = parse(item)
        except Malformed as error:
            warn(channel, what, str(error))
            continue
        if result is not None:
            parsed.append(result)
    return parsed


def objects(container: Mapping[str, Any], key: str, channel: str) -> Iterator[dict[str, Any]]:
    """The object items of ``container[key]``; an absent key is simply nothing to do."""
    items = container.get(key)
    if items is None:
        return
    if not isinstance(items, list):
        warn(channel, key, "not a list")
        return
    for item in items:
        if isinstance(item, dict):
            yield item
        else:
            warn(channel, key, "item is not an object")


def epoch_seconds(value: Any, *, per_second: int) -> float:
    """WhatsApp sends whole seconds as a string, Instagram milliseconds as a number."""
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    # The range test also rejects NaN and infinities, and ints too large for a float.
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value < _LATEST * per_second
    ):
        raise Malformed("timestamp is missing or invalid")
    return value / per_second


def warn(channel: str, what: str, reason: str) -> None:
    logger.warning(
        "skipped part of a webhook payload",
        extra={"channel": channel, "skipped": what, "reason": reason},
    )


def required(mapping: Mapping[str, Any], key: str, name: str | None = None) -> str:
    """Text that must be there (a message's body, a button's payload)."""
    value = str_(mapping.get(key))
    if not value:
        raise Malformed(f"{name or key} is missing")
    return value


def required_id(
    mapping: Mapping[str, Any], key: str, name: str | None = None, max_length: int = MESSAGE_ID
) -> str:
    value = mapping.get(key)
    if not is_id(value, max_length):
        raise Malformed(f"{name or key} is missing or not an id")
    return value


def object_(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = mapping.get(key)
    if not isinstance(value, dict):
        raise Malformed(f"{key} is not an object")
    return value


def is_id(value: Any, max_length: int = MESSAGE_ID) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) <= max_length and _ID.fullmatch(value) is not None


def dict_(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def list_(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def str_(value: Any) -> str | None:
    """Text as every store and encoder takes it: a NUL or a lone surrogate becomes U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", value) if isinstance(value, str) else None


def int_(value: Any) -> int | None:
    """An integer a database INTEGER column holds (32 bits); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -(2**31) <= value < 2**31 else None
