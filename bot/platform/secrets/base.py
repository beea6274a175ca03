"""What both secret backends share: the interface, the values they hold, and the cache that
re-reads a document once it is older than ``SECRETS_TTL_SECONDS``."""

from __future__ import annotations

import abc
import json
import logging
import re
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.platform.models import Channel
from bot.platform.settings import ConfigurationError

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 60
# The key under which each platform's account id is kept, as Meta names it.
ACCOUNT_KEYS: dict[str, str] = {
    Channel.WHATSAPP: "phone_number_id",
    Channel.INSTAGRAM: "account_id",
}
# Shop ids as bot.shop.shops admits them; anything else could name another secret.
SHOP_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")


class SecretsUnavailable(RuntimeError):
    """The secret could not be read and no earlier copy is cached."""


@dataclass(frozen=True)
class StoredToken:
    """A shop's own token as saved, expired or not; ``expires_at`` is Unix seconds or None."""

    access_token: str
    account_id: str
    expires_at: int | None


@dataclass(frozen=True)
class _Cached:
    document: dict[str, Any]
    fresh_until: float


class SecretBackend(abc.ABC):
    """Where the app's values and the shops' tokens live; safe to share between threads.

    ``clock`` (monotonic seconds) measures the TTL; tests inject one instead of sleeping.
    """

    def __init__(self, env: Mapping[str, str], clock: Callable[[], float]) -> None:
        self._env = env
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: dict[Hashable, _Cached] = {}

    @abc.abstractmethod
    def app_value(self, key: str) -> Any:
        """One of the app's values (``APP_ID``, ``APP_SECRET``, ``JWT_SECRET``...), or None."""

    @abc.abstractmethod
    def where_jwt_key_belongs(self) -> str:
        """Where an operator must put the JWT key, for the error that says it is missing."""

    @abc.abstractmethod
    def shop_entry(self, shop_id: str, platform: str) -> dict[str, Any]:
        """The shop's saved token entry for the platform, or an empty dict."""

    @abc.abstractmethod
    def fallback_token(self, platform: str) -> str | None:
        """The token for shops without one of their own, if this backend has any."""

    @abc.abstractmethod
    def store_entry(self, shop_id: str, platform: str, entry: dict[str, Any]) -> None:
        """Save the shop's entry where no other shop's entry is written."""

    @abc.abstractmethod
    def replace_token(
        self, shop_id: str, platform: str, old_token: str, new_token: str, expires_at: int | None
    ) -> bool:
        """Swap ``old_token`` for ``new_token`` unless the entry changed meanwhile."""

    def reset_cache(self) -> None:
        with self._lock:
            self._cached.clear()

    def _ttl(self) -> int:
        raw = self._env.get("SECRETS_TTL_SECONDS") or str(DEFAULT_TTL_SECONDS)
        try:
            ttl = int(raw)
        except ValueError:
            ttl = -1
        if ttl < 0:
            raise ConfigurationError(f"SECRETS_TTL_SECONDS must be a whole number, not {raw!r}.")
        return ttl

    def _fresh(self, source: Hashable, read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The source's document, read again once its copy is older than the TTL; a failed
        re-read keeps serving the last good copy, so an outage does not refuse every webhook."""
        with self._lock:
            now = self._clock()
            cached = self._cached.get(source)
            if cached is not None and now < cached.fresh_until:
                return cached.document
            try:
                document = read()
            except SecretsUnavailable:
                if cached is None:
                    raise
                logger.warning("secrets could not be re-read; serving the cached copy")
                document = cached.document
            self._cached[source] = _Cached(document, now + self._ttl())
            return document

    def _remember(self, source: Hashable, document: dict[str, Any]) -> None:
        with self._lock:
            self._cached[source] = _Cached(document, self._clock() + self._ttl())

    def _forget(self, source: Hashable) -> None:
        with self._lock:
            self._cached.pop(source, None)


def present(values: Any) -> list[str]:
    return [value for value in values if isinstance(value, str) and value]


def check_platform(platform: str) -> None:
    if platform not in ACCOUNT_KEYS:
        raise ValueError(f"platform must be one of {sorted(ACCOUNT_KEYS)}, not {platform!r}")


def check_shop(shop_id: str) -> None:
    if not SHOP_ID_RE.fullmatch(shop_id):
        raise ValueError(f"not a shop id: {shop_id!r}")


def entry_of(document: Mapping[str, Any], shop_id: str, platform: str) -> dict[str, Any]:
    """``shops[shop_id][platform]``; anything malformed reads as no entry."""
    level: Any = document
    for key in ("shops", shop_id, platform):
        level = level.get(key) if isinstance(level, dict) else None
    return level if isinstance(level, dict) else {}


def parse_document(raw: str, where: str) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ConfigurationError(f"{where} must hold one JSON object.")
    return document
