"""Development secrets: the app's values from the environment, the shops' tokens from a local
JSON file (``SHOP_SECRETS_FILE``, mode 0600, ``{"shops": {"<shop>": {"<platform>": {...}}}}``),
rewritten atomically under a lock file, with ``WHATSAPP_ACCESS_TOKEN`` /
``INSTAGRAM_ACCESS_TOKEN`` serving every shop that has no token of its own."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.platform.secrets.base import SecretBackend, SecretsUnavailable, entry_of, parse_document
from bot.platform.settings import PROJECT_ROOT

DEFAULT_SHOP_SECRETS_FILE = PROJECT_ROOT / "var" / "shop-secrets.json"
# The app's values as the environment names them; the others keep their own names.
_ENV_NAMES = {
    "APP_ID": "META_APP_ID",
    "APP_SECRET": "META_APP_SECRET",
    "APP_SECRET_PREVIOUS": "META_APP_SECRET_PREVIOUS",
}


class DevelopmentSecrets(SecretBackend):
    def app_value(self, key: str) -> Any:
        return self._env.get(_ENV_NAMES.get(key, key))

    def where_jwt_key_belongs(self) -> str:
        return "JWT_SECRET must be set (`make run` writes one into .env)"

    def shop_entry(self, shop_id: str, platform: str) -> dict[str, Any]:
        return entry_of(self._fresh(self._path(), self._read), shop_id, platform)

    def fallback_token(self, platform: str) -> str | None:
        return self._env.get(f"{platform.upper()}_ACCESS_TOKEN") or None

    def store_entry(self, shop_id: str, platform: str, entry: dict[str, Any]) -> None:
        """Changed under the lock, so concurrent writers all survive."""
        path = self._path()
        with _locked(path):
            document = self._read()
            shops = document.get("shops")
            shops = shops if isinstance(shops, dict) else {}
            entries = shops.get(shop_id)
            entries = entries if isinstance(entries, dict) else {}
            entries[platform] = entry
            shops[shop_id] = entries
            document["shops"] = shops
            _write_file(path, document)
        self._forget(path)

    def replace_token(
        self, shop_id: str, platform: str, old_token: str, new_token: str, expires_at: int | None
    ) -> bool:
        """Checked and written under the file's lock."""
        path = self._path()
        with _locked(path):
            document = self._read()
            entry = entry_of(document, shop_id, platform)  # the document's own dict, if any
            if entry.get("access_token") != old_token:
                return False
            entry.update(access_token=new_token, expires_at=expires_at)
            _write_file(path, document)
        self._forget(path)
        return True

    def _path(self) -> Path:
        return Path(self._env.get("SHOP_SECRETS_FILE") or str(DEFAULT_SHOP_SECRETS_FILE))

    def _read(self) -> dict[str, Any]:
        """The file's JSON object; a missing file reads as empty."""
        path = self._path()
        try:
            raw = path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise SecretsUnavailable(f"cannot read {path}: {type(error).__name__}") from error
        return parse_document(raw, str(path))


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


def _write_file(path: Path, document: dict[str, Any]) -> None:
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
