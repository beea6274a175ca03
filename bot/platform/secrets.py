"""Where the Meta app credentials, the JWT key and each shop's Graph API tokens come from.

With ``META_SECRET_NAME`` set, the app's values are one JSON secret in AWS Secrets Manager::

    {"APP_ID": "...", "APP_SECRET": "...", "APP_SECRET_PREVIOUS": "...", "JWT_SECRET": "...",
     "JWT_SECRET_PREVIOUS": "...", "INSTAGRAM_APP_ID": "...", "INSTAGRAM_APP_SECRET": "..."}

and each shop's token for a platform is a secret of its own, ``<META_SECRET_NAME>/shops/<shop>/
<platform>``, holding ``{"access_token": "...", "phone_number_id" (WhatsApp) or "account_id"
(Instagram): "...", "expires_at": 1735689600}``. Saving one shop's token writes only its own
secret, so two servers connecting two shops at once cannot overwrite each other. Tokens in the
main secret's older ``"shops": {"<shop>": {"<platform>": {...}}}`` are still read when the shop
has no secret of its own.

Otherwise (development) the app's values come from the environment (``META_APP_ID``,
``META_APP_SECRET[_PREVIOUS]``, ``INSTAGRAM_APP_ID``, ``INSTAGRAM_APP_SECRET``,
``JWT_SECRET[_PREVIOUS]``) and the shops' tokens from a local JSON file (``SHOP_SECRETS_FILE``,
mode 0600, ``{"shops": ...}`` as above), rewritten atomically under a lock file (fcntl), with
``WHATSAPP_ACCESS_TOKEN`` / ``INSTAGRAM_ACCESS_TOKEN`` serving every shop that has no token of
its own. The Instagram app's id and secret fall back to the Meta app's.

Each secret (or the file) is re-read once it is older than ``SECRETS_TTL_SECONDS`` (60), so a
rotation takes effect without a restart; the environment is read on every call. A failed re-read
keeps serving the last good copy, so a Secrets Manager outage does not refuse every webhook.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Tuple

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.platform.settings import PROJECT_ROOT, ConfigurationError

logger = logging.getLogger(__name__)

DEFAULT_SHOP_SECRETS_FILE = PROJECT_ROOT / "var" / "shop-secrets.json"
DEFAULT_TTL_SECONDS = 60
# The key under which each platform's account id is kept, as Meta names it.
ACCOUNT_KEYS = {"whatsapp": "phone_number_id", "instagram": "account_id"}
# Shop ids as bot.shop.shops admits them; anything else could name another secret.
_SHOP_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")

Source = Tuple[str, str]  # ("aws", secret name) or ("file", path)


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
    document: Dict[str, Any]
    fresh_until: float


class SecretStore:
    """One cached copy of each secret document read; safe to share between threads.

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
        self._cached: Dict[Source, _Cached] = {}

    # Reading

    def app_secrets(self) -> List[str]:
        """The Meta app secret, then the previous one while a rotation lasts."""
        names = ("APP_SECRET", "APP_SECRET_PREVIOUS")
        if self.managed():
            return _present(self._document().get(name) for name in names)
        return _present(self._env.get(f"META_{name}") for name in names)

    def app_id(self) -> str | None:
        return self._value("APP_ID", "META_APP_ID")

    def instagram_app_id(self) -> str | None:
        """Instagram Login's ``client_id``: the dashboard's Instagram app id, else the app's."""
        return self._value("INSTAGRAM_APP_ID", "INSTAGRAM_APP_ID") or self.app_id()

    def instagram_app_secret(self) -> str | None:
        """What Instagram Login's token exchanges take: the Instagram app secret, else the
        Meta app's."""
        own = self._value("INSTAGRAM_APP_SECRET", "INSTAGRAM_APP_SECRET")
        return own or next(iter(self.app_secrets()), None)

    def jwt_keys(self) -> List[str]:
        """The key buyer tokens and OAuth states are signed with, then the previous one."""
        source = self._document() if self.managed() else self._env
        current, previous = source.get("JWT_SECRET"), source.get("JWT_SECRET_PREVIOUS")
        if not isinstance(current, str) or len(current) < 32:
            if self.managed():
                where = f"the secret {self._env['META_SECRET_NAME']} must hold JWT_SECRET"
            else:
                where = "JWT_SECRET must be set (`make run` writes one into .env)"
            raise ConfigurationError(
                f"{where}: a random string of at least 32 characters signs buyer tokens and "
                "connect links."
            )
        return _present([current, previous])

    def jwt_key(self) -> str:
        return self.jwt_keys()[0]

    def shop_token(self, shop_id: str, platform: str) -> str | None:
        """The shop's unexpired token; in development the environment's token otherwise."""
        _check_platform(platform)
        entry = self._shop_entry(shop_id, platform)
        token = entry.get("access_token")
        expires_at = entry.get("expires_at")
        expired = isinstance(expires_at, (int, float)) and expires_at <= time.time()
        if isinstance(token, str) and token and not expired:
            return token
        if self.managed():
            return None
        return self._env.get(f"{platform.upper()}_ACCESS_TOKEN") or None

    def stored_shop_token(self, shop_id: str, platform: str) -> StoredToken | None:
        """The shop's own saved token even when expired, never the environment's: what an
        operator checks and a refresh replaces."""
        _check_platform(platform)
        entry = self._shop_entry(shop_id, platform)
        token, account_id = entry.get("access_token"), entry.get(ACCOUNT_KEYS[platform])
        if not (isinstance(token, str) and token and account_id):
            return None
        expires_at = entry.get("expires_at")
        known = isinstance(expires_at, (int, float)) and not isinstance(expires_at, bool)
        return StoredToken(token, str(account_id), int(expires_at) if known else None)

    # Writing

    def store_shop_token(
        self,
        shop_id: str,
        platform: str,
        access_token: str,
        account_id: str,
        expires_at: int | None,
    ) -> None:
        """Save a shop's token where no other shop's token is written: its own secret, or (in
        development) the file, changed under a lock so concurrent writers all survive."""
        _check_platform(platform)
        _check_shop(shop_id)
        if not access_token or not account_id:
            raise ValueError("access_token and account_id must not be empty")
        entry = {
            "access_token": access_token,
            ACCOUNT_KEYS[platform]: account_id,
            "expires_at": expires_at,
        }
        if self.managed():
            source = self._shop_source(shop_id, platform)
            _put_secret(source[1], entry)
            with self._lock:
                self._cached[source] = _Cached(entry, self._clock() + self._ttl())
            return
        source = self._source()
        with _locked(Path(source[1])):
            document = _read(source, missing_ok=True)
            shops = document.get("shops")
            shops = shops if isinstance(shops, dict) else {}
            entries = shops.get(shop_id)
            entries = entries if isinstance(entries, dict) else {}
            entries[platform] = entry
            shops[shop_id] = entries
            document["shops"] = shops
            _write_file(Path(source[1]), document)
        with self._lock:
            self._cached.pop(source, None)

    def replace_shop_token(
        self,
        shop_id: str,
        platform: str,
        old_token: str,
        new_token: str,
        expires_at: int | None,
    ) -> bool:
        """Put a refreshed token in place of the one it was refreshed from, keeping the account
        id; False, and nothing written, when the shop reconnected meanwhile, so a refresh never
        undoes a newer connection. The file is checked and written under its lock; a secret is
        re-read just before the write (Secrets Manager has no compare-and-set)."""
        _check_platform(platform)
        _check_shop(shop_id)
        if not new_token:
            raise ValueError("new_token must not be empty")
        if self.managed():
            source = self._shop_source(shop_id, platform)
            entry = _read(source, missing_ok=True) or _entry(self._document(), shop_id, platform)
            if entry.get("access_token") != old_token:
                return False
            entry = {**entry, "access_token": new_token, "expires_at": expires_at}
            _put_secret(source[1], entry)
            with self._lock:
                self._cached[source] = _Cached(entry, self._clock() + self._ttl())
            return True
        source = self._source()
        with _locked(Path(source[1])):
            document = _read(source, missing_ok=True)
            entry = _entry(document, shop_id, platform)  # the document's own dict, if any
            if entry.get("access_token") != old_token:
                return False
            entry.update(access_token=new_token, expires_at=expires_at)
            _write_file(Path(source[1]), document)
        with self._lock:
            self._cached.pop(source, None)
        return True

    def reset_cache(self) -> None:
        with self._lock:
            self._cached.clear()

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

    def _shop_source(self, shop_id: str, platform: str) -> Source:
        return ("aws", f"{self._env['META_SECRET_NAME']}/shops/{shop_id}/{platform}")

    def _value(self, key: str, env_name: str) -> str | None:
        value = self._document().get(key) if self.managed() else self._env.get(env_name)
        return value if isinstance(value, str) and value else None

    def _shop_entry(self, shop_id: str, platform: str) -> Dict[str, Any]:
        """The shop's own secret; failing that, its entry in the main document (or file)."""
        if self.managed() and _SHOP_ID_RE.fullmatch(shop_id):
            own = self._fresh(self._shop_source(shop_id, platform), missing_ok=True)
            if own:
                return own
        return _entry(self._document(), shop_id, platform)

    def _document(self) -> Dict[str, Any]:
        return self._fresh(self._source(), missing_ok=False)

    def _fresh(self, source: Source, missing_ok: bool) -> Dict[str, Any]:
        """The source's document, read again once its copy is older than the TTL."""
        with self._lock:
            now = self._clock()
            cached = self._cached.get(source)
            if cached is not None and now < cached.fresh_until:
                return cached.document
            try:
                document = _read(source, missing_ok=missing_ok)
            except SecretsUnavailable:
                if cached is None:
                    raise
                logger.warning("secrets could not be re-read; serving the cached copy")
                document = cached.document
            self._cached[source] = _Cached(document, now + self._ttl())
            return document


def _present(values: Any) -> List[str]:
    return [value for value in values if isinstance(value, str) and value]


def _check_platform(platform: str) -> None:
    if platform not in ACCOUNT_KEYS:
        raise ValueError(f"platform must be one of {sorted(ACCOUNT_KEYS)}, not {platform!r}")


def _check_shop(shop_id: str) -> None:
    if not _SHOP_ID_RE.fullmatch(shop_id):
        raise ValueError(f"not a shop id: {shop_id!r}")


def _entry(document: Mapping[str, Any], shop_id: str, platform: str) -> Dict[str, Any]:
    """``shops[shop_id][platform]``; anything malformed reads as no entry."""
    level: Any = document
    for key in ("shops", shop_id, platform):
        level = level.get(key) if isinstance(level, dict) else None
    return level if isinstance(level, dict) else {}


def _read(source: Source, *, missing_ok: bool) -> Dict[str, Any]:
    """The JSON object at the source; a missing file, or a missing secret where ``missing_ok``
    (a shop not connected yet), reads as empty."""
    kind, where = source
    try:
        if kind == "aws":
            try:
                raw = _secretsmanager().get_secret_value(SecretId=where)["SecretString"]
            except ClientError as error:
                if not (missing_ok and _error_code(error) == "ResourceNotFoundException"):
                    raise
                return {}
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


def _put_secret(name: str, document: Dict[str, Any]) -> None:
    """Write the secret, creating it on a shop's first connection (and when two servers race to
    create it, writing the one the other created)."""
    text = json.dumps(document, sort_keys=True)
    client = _secretsmanager()
    try:
        try:
            client.put_secret_value(SecretId=name, SecretString=text)
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise
            try:
                client.create_secret(Name=name, SecretString=text)
            except ClientError as race:
                if _error_code(race) != "ResourceExistsException":
                    raise
                client.put_secret_value(SecretId=name, SecretString=text)
    except (ClientError, BotoCoreError) as error:
        raise SecretsUnavailable(f"cannot write {name}: {type(error).__name__}") from error


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<file>.lock`` (the file itself is replaced, so it cannot carry the
    lock) while a read-modify-write of the file runs, across threads and processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _write_file(path: Path, document: Dict[str, Any]) -> None:
    """A reader sees the old file or the new one, never half of one; mkstemp creates it 0600."""
    text = json.dumps(document, indent=2, sort_keys=True)
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


def instagram_app_id() -> str | None:
    return _store.instagram_app_id()


def instagram_app_secret() -> str | None:
    return _store.instagram_app_secret()


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


def stored_shop_token(shop_id: str, platform: str) -> StoredToken | None:
    return _store.stored_shop_token(shop_id, platform)


def replace_shop_token(
    shop_id: str, platform: str, old_token: str, new_token: str, expires_at: int | None
) -> bool:
    return _store.replace_shop_token(shop_id, platform, old_token, new_token, expires_at)


def managed() -> bool:
    return _store.managed()


def reset_cache() -> None:
    _store.reset_cache()
