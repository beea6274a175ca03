"""Where the Meta app credentials, the JWT key and each shop's Graph API tokens come from.

Two backends behind one interface (``base.SecretBackend``): with ``META_SECRET_NAME`` set, AWS
Secrets Manager (``aws``); otherwise, in development, the environment and a local file
(``development``). The app's values are, by name: ``APP_ID``, ``APP_SECRET``,
``APP_SECRET_PREVIOUS``, ``JWT_SECRET``, ``JWT_SECRET_PREVIOUS``, ``INSTAGRAM_APP_ID``,
``INSTAGRAM_APP_SECRET`` (in development ``META_APP_ID`` and ``META_APP_SECRET[_PREVIOUS]`` for
the first three). A shop's token for a platform is ``{"access_token": "...", "phone_number_id"
(WhatsApp) or "account_id" (Instagram): "...", "expires_at": 1735689600}``. The Instagram app's id
and secret fall back to the Meta app's.

Each document is re-read once it is older than ``SECRETS_TTL_SECONDS`` (60), so a rotation takes
effect without a restart; the environment is read on every call.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping

from bot.platform.secrets.aws import AwsSecretsManager
from bot.platform.secrets.base import (
    ACCOUNT_KEYS,
    SecretBackend,
    SecretsUnavailable,
    StoredToken,
    check_platform,
    check_shop,
    present,
)
from bot.platform.secrets.development import DevelopmentSecrets
from bot.platform.settings import ConfigurationError

__all__ = ["SecretStore", "SecretsUnavailable", "StoredToken", "check_jwt_key"]


class SecretStore:
    """The app's secrets and the shops' tokens, from the backend the environment selects."""

    def __init__(
        self, env: Mapping[str, str] = os.environ, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._env = env
        self._clock = clock
        self._lock = threading.Lock()
        self._backends: dict[str | None, SecretBackend] = {}

    def backend(self) -> SecretBackend:
        """One backend (and cache) per secret name, so switching it never serves stale values."""
        name = self._env.get("META_SECRET_NAME") or None
        with self._lock:
            if name not in self._backends:
                kind = AwsSecretsManager if name else DevelopmentSecrets
                self._backends[name] = kind(self._env, self._clock)
            return self._backends[name]

    def app_secrets(self) -> list[str]:
        """The Meta app secret, then the previous one while a rotation lasts."""
        backend = self.backend()
        return present(backend.app_value(key) for key in ("APP_SECRET", "APP_SECRET_PREVIOUS"))

    def app_id(self) -> str | None:
        return self._value("APP_ID")

    def instagram_app_id(self) -> str | None:
        """Instagram Login's ``client_id``: the dashboard's Instagram app id, else the app's."""
        return self._value("INSTAGRAM_APP_ID") or self.app_id()

    def instagram_app_secret(self) -> str | None:
        """What Instagram Login's token exchanges take: the Instagram app secret, else the
        Meta app's."""
        return self._value("INSTAGRAM_APP_SECRET") or next(iter(self.app_secrets()), None)

    def jwt_keys(self) -> list[str]:
        """The key buyer tokens and OAuth states are signed with, then the previous one."""
        backend = self.backend()
        current, previous = (
            backend.app_value("JWT_SECRET"),
            backend.app_value("JWT_SECRET_PREVIOUS"),
        )
        if not isinstance(current, str) or len(current) < 32:
            raise ConfigurationError(
                f"{backend.where_jwt_key_belongs()}: a random string of at least 32 characters "
                "signs buyer tokens and connect links."
            )
        if previous and (not isinstance(previous, str) or len(previous) < 32):
            raise ConfigurationError(
                "JWT_SECRET_PREVIOUS, while a rotation lasts, must be the previous JWT_SECRET: "
                "at least 32 characters; remove it once the rotation is over."
            )
        return present([current, previous])

    def jwt_key(self) -> str:
        return self.jwt_keys()[0]

    def shop_token(self, shop_id: str, platform: str) -> str | None:
        """The shop's unexpired token, else the backend's fallback (development only)."""
        check_platform(platform)
        backend = self.backend()
        entry = backend.shop_entry(shop_id, platform)
        token, expires_at = entry.get("access_token"), entry.get("expires_at")
        expired = isinstance(expires_at, (int, float)) and expires_at <= time.time()
        if isinstance(token, str) and token and not expired:
            return token
        return backend.fallback_token(platform)

    def stored_shop_token(self, shop_id: str, platform: str) -> StoredToken | None:
        """The shop's own saved token even when expired, never a fallback: what an operator
        checks and a refresh replaces."""
        check_platform(platform)
        entry = self.backend().shop_entry(shop_id, platform)
        token, account_id = entry.get("access_token"), entry.get(ACCOUNT_KEYS[platform])
        if not (isinstance(token, str) and token and account_id):
            return None
        expires_at = entry.get("expires_at")
        if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)):
            expires_at = None
        return StoredToken(token, str(account_id), None if expires_at is None else int(expires_at))

    def store_shop_token(
        self,
        shop_id: str,
        platform: str,
        access_token: str,
        account_id: str,
        expires_at: int | None,
    ) -> None:
        """Save a shop's token where no other shop's token is written."""
        check_platform(platform)
        check_shop(shop_id)
        if not access_token or not account_id:
            raise ValueError("access_token and account_id must not be empty")
        entry = {
            "access_token": access_token,
            ACCOUNT_KEYS[platform]: account_id,
            "expires_at": expires_at,
        }
        self.backend().store_entry(shop_id, platform, entry)

    def replace_shop_token(
        self, shop_id: str, platform: str, old_token: str, new_token: str, expires_at: int | None
    ) -> bool:
        """Put a refreshed token in place of the one it was refreshed from, keeping the account
        id; False, and nothing written, when the shop reconnected meanwhile, so a refresh never
        undoes a newer connection."""
        check_platform(platform)
        check_shop(shop_id)
        if not new_token:
            raise ValueError("new_token must not be empty")
        return self.backend().replace_token(shop_id, platform, old_token, new_token, expires_at)

    def reset_cache(self) -> None:
        with self._lock:
            backends = list(self._backends.values())
        for backend in backends:
            backend.reset_cache()

    def _value(self, key: str) -> str | None:
        value = self.backend().app_value(key)
        return value if isinstance(value, str) and value else None


_store = SecretStore()

app_secrets = _store.app_secrets
app_id = _store.app_id
instagram_app_id = _store.instagram_app_id
instagram_app_secret = _store.instagram_app_secret
jwt_keys = _store.jwt_keys
jwt_key = _store.jwt_key
shop_token = _store.shop_token
stored_shop_token = _store.stored_shop_token
store_shop_token = _store.store_shop_token
replace_shop_token = _store.replace_shop_token
reset_cache = _store.reset_cache
backend = _store.backend


def check_jwt_key() -> None:
    """At a server's start: without a JWT key nothing can sign buyer tokens or connect links,
    so fail now, not on a buyer's first message. The error names what to set, never a value."""
    try:
        jwt_keys()
    except SecretsUnavailable as error:
        raise ConfigurationError(f"JWT_SECRET cannot be read: {error}.") from error
