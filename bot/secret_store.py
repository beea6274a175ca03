"""Where the Meta app credentials, the JWT key and each shop's Graph API tokens come from.

With ``META_SECRET_NAME`` set, everything is one JSON secret in AWS Secrets Manager::

    {"APP_ID": "...", "APP_SECRET": "...", "APP_SECRET_PREVIOUS": "...", "JWT_SECRET": "...",
     "JWT_SECRET_PREVIOUS": "...", "shops": {"<shop>": {"whatsapp": {"access_token": "...",
     "phone_number_id": "...", "expires_at": 1735689600}, "instagram": {...}}}}

Otherwise (development) the app's values come from the environment (``META_APP_ID``,
``META_APP_SECRET[_PREVIOUS]``, ``JWT_SECRET[_PREVIOUS]``) and the shops' tokens from a local
JSON file (``SHOP_SECRETS_FILE``, mode 0600), with ``WHATSAPP_ACCESS_TOKEN`` /
``INSTAGRAM_ACCESS_TOKEN`` serving every shop that has no token of its own.

The secret (or the file) is re-read once it is older than ``SECRETS_TTL_SECONDS`` (60), so a
rotation takes effect without a restart; the environment is read on every call. A failed re-read
keeps serving the last good copy, so a Secrets Manager outage does not refuse every webhook.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Tuple

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.settings import PROJECT_ROOT, ConfigurationError

logger = logging.getLogger(__name__)

DEFAULT_SHOP_SECRETS_FILE = PROJECT_ROOT / "var" / "shop-secrets.json"
DEFAULT_TTL_SECONDS = 60
# The key under which each platform's account id is kept, as Meta names it.
ACCOUNT_KEYS = {"whatsapp": "phone_number_id", "instagram": "account_id"}

Source = Tuple[str, str]  # ("aws", secret name) or ("file", path)


class SecretsUnavailable(RuntimeError):
    """The secret could not be read and no earlier copy is cached."""


@dataclass(frozen=True)
class _Cached:
    source: Source
    document: Dict[str, Any]
    fresh_until: float


class SecretStore:
    """One cached copy of the secret document; safe to share between threads.

    ``clock`` (monotonic seconds) measures the TTL; tests inject one instead of sleeping.
    """

    def __init__(
        self,
        env: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._env = env
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: _Cached | None = None

    # Reading

    def app_secrets(self) -> List[str]:
        """The Meta app secret, then the previous one while a rotation lasts."""
        names = ("APP_SECRET", "APP_SECRET_PREVIOUS")
        if self.managed():
            return _present(self._document().get(name) for name in names)
        return _present(self._env.get(f"META_{name}") for name in names)

    def app_id(self) -> str | None:
        value = self._document().get("APP_ID") if self.managed() else self._env.get("META_APP_ID")
        return value if isinstance(value, str) and value else None

    def jwt_keys(self) -> List[str]:
        """The key buyer tokens and OAuth states are signed with, then the previous one."""
        source = self._document() if self.managed() else self._env
        current, previous = source.get("JWT_SECRET"), source.get("JWT_SECRET_PREVIOUS")
        if not isinstance(current, str) or len(current) < 32:
            where = "the secret" if self.managed() else "the environment"
            raise ConfigurationError(
                f"JWT_SECRET in {where} must be a random string of at least 32 characters."
            )
        return _present([current, previous])

    def jwt_key(self) -> str:
        return self.jwt_keys()[0]

    def shop_token(self, shop_id: str, platform: str) -> str | None:
        """The shop's unexpired token; in development the environment's token otherwise."""
        _check_platform(platform)
        entry = _entry(self._document(), shop_id, platform)
        token = entry.get("access_token")
        expires_at = entry.get("expires_at")
        expired = isinstance(expires_at, (int, float)) and expires_at <= time.time()
        if isinstance(token, str) and token and not expired:
            return token
        if self.managed():
            return None
        return self._env.get(f"{platform.upper()}_ACCESS_TOKEN") or None

    # Writing

    def store_shop_token(
        self,
        shop_id: str,
        platform: str,
        access_token: str,
        account_id: str,
        expires_at: int | None,
    ) -> None:
        """Save a shop's token (read-modify-write of the whole document), then drop the cache."""
        _check_platform(platform)
        if not access_token or not account_id:
            raise ValueError("access_token and account_id must not be empty")
        source = self._source()
        with self._lock:
            document = _read(source)
            shops = document.get("shops")
            shops = shops if isinstance(shops, dict) else {}
            entries = shops.get(shop_id)
            entries = entries if isinstance(entries, dict) else {}
            entries[platform] = {
                "access_token": access_token,
                ACCOUNT_KEYS[platform]: account_id,
                "expires_at": expires_at,
            }
            shops[shop_id] = entries
            document["shops"] = shops
            _write(source, document)
            self._cached = None

    def reset_cache(self) -> None:
        with self._lock:
            self._cached = None

    # The document

    def managed(self) -> bool:
        """Whether the secrets live in AWS Secrets Manager rather than the environment."""
        return bool(self._env.get("META_SECRET_NAME"))

    def _source(self) -> Source:
        if self.managed():
            return ("aws", self._env["META_SECRET_NAME"])
        return ("file", self._env.get("SHOP_SECRETS_FILE") or str(DEFAULT_SHOP_SECRETS_FILE))

    def _ttl(self) -> int:
        raw = self._env.get("SECRETS_TTL_SECONDS") or str(DEFAULT_TTL_SECONDS)
        try:
            ttl = int(raw)
        except ValueError:
            ttl = -1
        if ttl < 0:
            raise ConfigurationError(f"SECRETS_TTL_SECONDS must be a whole number, not {raw!r}.")
        return ttl

    def _document(self) -> Dict[str, Any]:
        source = self._source()
        with self._lock:
            now = self._clock()
            cached = self._cached
            if cached is not None and cached.source == source and now < cached.fresh_until:
                return cached.document
            try:
                document = _read(source)
            except SecretsUnavailable:
                if cached is None or cached.source != source:
                    raise
                logger.warning("secrets could not be re-read; serving the cached copy")
                document = cached.document
            self._cached = _Cached(source, document, now + self._ttl())
            return document


def _present(values: Any) -> List[str]:
    return [value for value in values if isinstance(value, str) and value]


def _check_platform(platform: str) -> None:
    if platform not in ACCOUNT_KEYS:
        raise ValueError(f"platform must be one of {sorted(ACCOUNT_KEYS)}, not {platform!r}")


def _entry(document: Mapping[str, Any], shop_id: str, platform: str) -> Dict[str, Any]:
    """``shops[shop_id][platform]``; anything malformed reads as no entry."""
    level: Any = document
    for key in ("shops", shop_id, platform):
        level = level.get(key) if isinstance(level, dict) else None
    return level if isinstance(level, dict) else {}


def _read(source: Source) -> Dict[str, Any]:
    kind, where = source
    try:
        if kind == "aws":
            raw = _secretsmanager().get_secret_value(SecretId=where)["SecretString"]
        else:
            try:
                raw = Path(where).read_text()
            except FileNotFoundError:
                return {}
    except (ClientError, BotoCoreError, OSError, KeyError) as error:
        # The error names the secret or file and the failure, never a value.
        raise SecretsUnavailable(f"cannot read {where}: {type(error).__name__}") from error
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ConfigurationError(f"{where} must hold one JSON object.")
    return document


def _write(source: Source, document: Dict[str, Any]) -> None:
    kind, where = source
    text = json.dumps(document, indent=2, sort_keys=True)
    if kind == "aws":
        _secretsmanager().put_secret_value(SecretId=where, SecretString=text)
        return
    # A reader sees the old file or the new one, never half of one; mkstemp creates it 0600.
    path = Path(where)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".shop-secrets-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _secretsmanager() -> Any:
    """A fresh client from its own session (boto3's default session is not thread-safe); region
    and endpoint come from the standard AWS variables."""
    return boto3.session.Session().client("secretsmanager")


_store = SecretStore()


def app_secrets() -> List[str]:
    return _store.app_secrets()


def app_id() -> str | None:
    return _store.app_id()


def jwt_keys() -> List[str]:
    return _store.jwt_keys()


def jwt_key() -> str:
    return _store.jwt_key()


def shop_token(shop_id: str, platform: str) -> str | None:
    return _store.shop_token(shop_id, platform)


def store_shop_token(
    shop_id: str,
    platform: str,
    access_token: str,
    account_id: str,
    expires_at: int | None,
) -> None:
    _store.store_shop_token(shop_id, platform, access_token, account_id, expires_at)


def managed() -> bool:
    return _store.managed()


def reset_cache() -> None:
    _store.reset_cache()
