"""Production secrets: AWS Secrets Manager. The app's values are one JSON secret,
``META_SECRET_NAME``; each shop's token for a platform is a secret of its own,
``<META_SECRET_NAME>/shops/<shop>/<platform>``, so two servers connecting two shops at once cannot
overwrite each other. Tokens in the main secret's older ``"shops"`` mapping are still read when
the shop has no secret of its own."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.platform.secrets.base import (
    SHOP_ID_RE,
    SecretBackend,
    SecretsUnavailable,
    entry_of,
    parse_document,
)


class AwsSecretsManager(SecretBackend):
    def app_value(self, key: str) -> Any:
        return self._document().get(key)

    def where_jwt_key_belongs(self) -> str:
        return f"the secret {self._name()} must hold JWT_SECRET"

    def shop_entry(self, shop_id: str, platform: str) -> dict[str, Any]:
        """The shop's own secret; failing that, its entry in the main secret."""
        if SHOP_ID_RE.fullmatch(shop_id):
            name = self._shop_secret(shop_id, platform)
            own = self._fresh(name, lambda: _read(name, missing_ok=True))
            if own:
                return own
        return entry_of(self._document(), shop_id, platform)

    def fallback_token(self, platform: str) -> str | None:
        """Production serves no shop with a token that is not its own."""
        return None

    def store_entry(self, shop_id: str, platform: str, entry: dict[str, Any]) -> None:
        name = self._shop_secret(shop_id, platform)
        _put_secret(name, entry)
        self._remember(name, entry)

    def replace_token(
        self, shop_id: str, platform: str, old_token: str, new_token: str, expires_at: int | None
    ) -> bool:
        """The secret is re-read just before the write (Secrets Manager has no compare-and-set)."""
        name = self._shop_secret(shop_id, platform)
        entry = _read(name, missing_ok=True) or entry_of(self._document(), shop_id, platform)
        if entry.get("access_token") != old_token:
            return False
        entry = {**entry, "access_token": new_token, "expires_at": expires_at}
        _put_secret(name, entry)
        self._remember(name, entry)
        return True

    def _name(self) -> str:
        return self._env["META_SECRET_NAME"]

    def _shop_secret(self, shop_id: str, platform: str) -> str:
        return f"{self._name()}/shops/{shop_id}/{platform}"

    def _document(self) -> dict[str, Any]:
        name = self._name()
        return self._fresh(name, lambda: _read(name, missing_ok=False))


def _read(name: str, *, missing_ok: bool) -> dict[str, Any]:
    """The secret's JSON object; a missing secret where ``missing_ok`` (a shop not connected
    yet) reads as empty. Errors name the secret and the failure, never a value."""
    try:
        raw = _secretsmanager().get_secret_value(SecretId=name)["SecretString"]
    except ClientError as error:
        if missing_ok and _error_code(error) == "ResourceNotFoundException":
            return {}
        raise SecretsUnavailable(f"cannot read {name}: {type(error).__name__}") from error
    except (BotoCoreError, KeyError) as error:
        raise SecretsUnavailable(f"cannot read {name}: {type(error).__name__}") from error
    return parse_document(raw, name)


def _put_secret(name: str, document: dict[str, Any]) -> None:
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


def _secretsmanager() -> Any:
    """A fresh client from its own session (boto3's default session is not thread-safe); region
    and endpoint come from the standard AWS variables."""
    return boto3.session.Session().client("secretsmanager")
