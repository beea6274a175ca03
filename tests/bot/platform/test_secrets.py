"""The secrets layer: the environment and a 0600 file in development, JSON secrets in AWS Secrets
Manager (moto) in production (the app's, and one per shop and platform), a TTL cache that lets a
rotation in without a restart, writers that never lose each other's tokens, the JWT key needed at
start-up from wherever it is kept, and the rotations themselves: the Meta app secret (webhook
signatures) and the JWT key."""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from moto import mock_aws
from sanic import Sanic

from bot.meta.signature import signature_header, signature_is_valid
from bot.platform import db
from bot.platform import secrets as secret_store
from bot.platform.secrets import SecretStore, SecretsUnavailable
from bot.platform.secrets.aws import AwsSecretsManager
from bot.platform.secrets.development import DevelopmentSecrets
from bot.platform.settings import ConfigurationError, get_settings
from bot.platform.signing import Purpose, key_for
from bot.shop import shops
from bot.shop.tokens import decode_buyer_token, issue_buyer_token
from connectors.whatsapp import WhatsAppInput
from tests.conftest import JWT_SECRET
from tests.helpers.meta import signed, wa_text, whatsapp
from tests.helpers.threads import all_at_once

SECRET_NAME = "trustguard/meta"
OLD_APP_SECRET = "old-app-secret-1f2e3d"
NEW_APP_SECRET = "new-app-secret-9a8b7c"
OLD_JWT = "old-jwt-key-0123456789abcdefghijklmnopqrstuv"
NEW_JWT = "new-jwt-key-0123456789abcdefghijklmnopqrstuv"
IN_A_MONTH = int(time.time()) + 30 * 24 * 3600
DOCUMENT: dict[str, Any] = {
    "APP_ID": "1234567890",
    "APP_SECRET": NEW_APP_SECRET,
    "APP_SECRET_PREVIOUS": OLD_APP_SECRET,
    "JWT_SECRET": NEW_JWT,
    "shops": {
        "mama-put": {
            "whatsapp": {
                "access_token": "EAAGmamaput-wa",
                "phone_number_id": "106540352242922",
                "expires_at": IN_A_MONTH,
            },
            "instagram": {
                "access_token": "IGmamaput",
                "account_id": "17841400000000001",
                "expires_at": IN_A_MONTH,
            },
        }
    },
}


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name in (
        "META_SECRET_NAME",
        "META_APP_ID",
        "META_APP_SECRET",
        "META_APP_SECRET_PREVIOUS",
        "JWT_SECRET_PREVIOUS",
        "INSTAGRAM_APP_ID",
        "INSTAGRAM_APP_SECRET",
        "WHATSAPP_ACCESS_TOKEN",
        "INSTAGRAM_ACCESS_TOKEN",
        "SECRETS_TTL_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "secrets" / "shop-secrets.json"
    monkeypatch.setenv("SHOP_SECRETS_FILE", str(path))
    secret_store.reset_cache()
    yield path
    secret_store.reset_cache()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Secrets Manager (moto) holding DOCUMENT, and the store pointed at it."""
    with mock_aws():
        client = boto3.client("secretsmanager")
        client.create_secret(Name=SECRET_NAME, SecretString=json.dumps(DOCUMENT))
        monkeypatch.setenv("META_SECRET_NAME", SECRET_NAME)
        secret_store.reset_cache()
        yield client


def put(client: Any, **changes: Any) -> None:
    """Replace the secret with DOCUMENT changed as given (a None value removes the key)."""
    document = {**DOCUMENT, **changes}
    document = {key: value for key, value in document.items() if value is not None}
    client.put_secret_value(SecretId=SECRET_NAME, SecretString=json.dumps(document))


def stored_secret(client: Any, name: str = SECRET_NAME) -> dict[str, Any]:
    return json.loads(client.get_secret_value(SecretId=name)["SecretString"])


# Development: the environment and a local file


def test_app_values_come_from_the_environment_in_development(monkeypatch) -> None:
    monkeypatch.setenv("META_APP_ID", "1234567890")
    monkeypatch.setenv("META_APP_SECRET", NEW_APP_SECRET)
    monkeypatch.setenv("META_APP_SECRET_PREVIOUS", "")
    assert secret_store.app_id() == "1234567890"
    assert secret_store.app_secrets() == [NEW_APP_SECRET]
    assert secret_store.jwt_key() == JWT_SECRET
    assert isinstance(secret_store.backend(), DevelopmentSecrets)

    monkeypatch.setenv("META_APP_SECRET_PREVIOUS", OLD_APP_SECRET)
    assert secret_store.app_secrets() == [NEW_APP_SECRET, OLD_APP_SECRET]


def test_nothing_configured_reads_as_absent() -> None:
    assert secret_store.app_secrets() == []
    assert secret_store.app_id() is None
    assert secret_store.shop_token("mama-put", "whatsapp") is None


def test_the_environment_token_serves_shops_without_their_own(monkeypatch) -> None:
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "env-whatsapp-token")
    assert secret_store.shop_token("mama-put", "whatsapp") == "env-whatsapp-token"

    secret_store.store_shop_token("mama-put", "whatsapp", "own-token", "1065403522", IN_A_MONTH)

    assert secret_store.shop_token("mama-put", "whatsapp") == "own-token"
    assert secret_store.shop_token("iya-basket", "whatsapp") == "env-whatsapp-token"
    assert secret_store.shop_token("mama-put", "instagram") is None


def test_the_local_file_is_private_complete_and_replaced_atomically(secrets_env: Path) -> None:
    secret_store.store_shop_token("mama-put", "whatsapp", "wa-token", "1065403522", IN_A_MONTH)
    secret_store.store_shop_token("mama-put", "instagram", "ig-token", "178414000", None)
    secret_store.store_shop_token("iya-basket", "whatsapp", "iya-token", "1065409999", None)

    assert stat.S_IMODE(os.stat(secrets_env).st_mode) == 0o600
    assert json.loads(secrets_env.read_text()) == {
        "shops": {
            "mama-put": {
                "whatsapp": {
                    "access_token": "wa-token",
                    "phone_number_id": "1065403522",
                    "expires_at": IN_A_MONTH,
                },
                "instagram": {
                    "access_token": "ig-token",
                    "account_id": "178414000",
                    "expires_at": None,
                },
            },
            "iya-basket": {
                "whatsapp": {
                    "access_token": "iya-token",
                    "phone_number_id": "1065409999",
                    "expires_at": None,
                }
            },
        }
    }
    # No temporary file is left behind; the lock file (never replaced) is private too.
    lock = secrets_env.with_name(secrets_env.name + ".lock")
    assert sorted(p.name for p in secrets_env.parent.iterdir()) == [secrets_env.name, lock.name]
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600 and lock.read_text() == ""
    assert secret_store.shop_token("mama-put", "instagram") == "ig-token"


def test_concurrent_writers_of_the_file_lose_no_shop(secrets_env: Path) -> None:
    """Each writer is its own store, as in separate processes: only the file lock orders them."""
    shop_ids = [f"shop-{n}" for n in range(12)]
    all_at_once(
        [
            lambda shop_id=shop_id: SecretStore().store_shop_token(
                shop_id, "whatsapp", f"token-{shop_id}", "1065403522", IN_A_MONTH
            )
            for shop_id in shop_ids
        ]
    )

    assert sorted(json.loads(secrets_env.read_text())["shops"]) == sorted(shop_ids)
    for shop_id in shop_ids:
        assert SecretStore().shop_token(shop_id, "whatsapp") == f"token-{shop_id}"


def test_a_token_is_read_again_after_someone_else_rewrote_the_file(secrets_env: Path) -> None:
    clock = Clock()
    store = SecretStore(clock=clock)
    store.store_shop_token("mama-put", "whatsapp", "first", "1065403522", None)
    assert store.shop_token("mama-put", "whatsapp") == "first"

    # Another process (the CLI, another server) writes through its own store.
    SecretStore().store_shop_token("mama-put", "whatsapp", "second", "1065403522", None)
    assert store.shop_token("mama-put", "whatsapp") == "first"
    clock.advance(60)
    assert store.shop_token("mama-put", "whatsapp") == "second"


def test_an_expired_token_is_treated_as_absent(monkeypatch) -> None:
    past = int(time.time()) - 1
    secret_store.store_shop_token("mama-put", "whatsapp", "stale-token", "1065403522", past)
    assert secret_store.shop_token("mama-put", "whatsapp") is None

    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "env-whatsapp-token")
    assert secret_store.shop_token("mama-put", "whatsapp") == "env-whatsapp-token"


def test_an_unknown_platform_or_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="platform"):
        secret_store.shop_token("mama-put", "telegram")
    with pytest.raises(ValueError, match="platform"):
        secret_store.store_shop_token("mama-put", "rest", "t", "1", None)
    with pytest.raises(ValueError, match="empty"):
        secret_store.store_shop_token("mama-put", "whatsapp", "", "1", None)


def test_the_stored_token_is_read_even_when_expired_and_never_from_the_environment(
    monkeypatch,
) -> None:
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "env-instagram-token")
    assert secret_store.stored_shop_token("mama-put", "instagram") is None

    past = int(time.time()) - 1
    secret_store.store_shop_token("mama-put", "instagram", "IGold", "17841400000000001", past)

    assert secret_store.stored_shop_token("mama-put", "instagram") == secret_store.StoredToken(
        "IGold", "17841400000000001", past
    )
    assert secret_store.shop_token("mama-put", "instagram") == "env-instagram-token"


def test_a_refreshed_token_replaces_its_predecessor_and_keeps_the_account(
    secrets_env: Path,
) -> None:
    secret_store.store_shop_token("mama-put", "instagram", "IGold", "17841400000000001", 100)
    secret_store.store_shop_token("mama-put", "whatsapp", "EAAGwa", "1065403522", None)

    assert secret_store.replace_shop_token("mama-put", "instagram", "IGold", "IGnew", IN_A_MONTH)

    assert secret_store.shop_token("mama-put", "instagram") == "IGnew"
    assert json.loads(secrets_env.read_text())["shops"]["mama-put"] == {
        "instagram": {
            "access_token": "IGnew",
            "account_id": "17841400000000001",
            "expires_at": IN_A_MONTH,
        },
        "whatsapp": {
            "access_token": "EAAGwa",
            "phone_number_id": "1065403522",
            "expires_at": None,
        },
    }
    assert stat.S_IMODE(secrets_env.stat().st_mode) == 0o600


def test_a_refresh_never_replaces_a_newer_connection(secrets_env: Path) -> None:
    secret_store.store_shop_token("mama-put", "instagram", "IGreconnected", "17841400000000002", 1)
    before = secrets_env.read_text()

    assert not secret_store.replace_shop_token("mama-put", "instagram", "IGold", "IGnew", 2)
    assert not secret_store.replace_shop_token("iya-basket", "instagram", "IGold", "IGnew", 2)

    assert secrets_env.read_text() == before
    with pytest.raises(ValueError, match="empty"):
        secret_store.replace_shop_token("mama-put", "instagram", "IGreconnected", "", 2)


def test_a_malformed_file_is_a_configuration_error_that_shows_no_content(
    secrets_env: Path,
) -> None:
    secrets_env.parent.mkdir(parents=True)
    secrets_env.write_text('["EAAGleaked-token"]')
    with pytest.raises(ConfigurationError) as raised:
        secret_store.shop_token("mama-put", "whatsapp")
    assert "EAAG" not in str(raised.value)


# Production: AWS Secrets Manager


def test_everything_is_read_from_the_secret(aws) -> None:
    assert isinstance(secret_store.backend(), AwsSecretsManager)
    assert secret_store.app_id() == "1234567890"
    assert secret_store.app_secrets() == [NEW_APP_SECRET, OLD_APP_SECRET]
    assert secret_store.jwt_key() == NEW_JWT
    assert secret_store.shop_token("mama-put", "whatsapp") == "EAAGmamaput-wa"
    assert secret_store.shop_token("mama-put", "instagram") == "IGmamaput"
    assert secret_store.shop_token("iya-basket", "whatsapp") is None


def test_the_environment_never_stands_in_for_a_shop_token_in_production(aws, monkeypatch) -> None:
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "env-whatsapp-token")
    monkeypatch.setenv("META_APP_SECRET", "env-app-secret")
    assert secret_store.shop_token("iya-basket", "whatsapp") is None
    assert secret_store.app_secrets() == [NEW_APP_SECRET, OLD_APP_SECRET]


def test_the_secret_is_cached_until_the_ttl_passes_or_the_cache_is_reset(aws) -> None:
    clock = Clock()
    store = SecretStore(clock=clock)
    assert store.app_secrets()[0] == NEW_APP_SECRET

    put(aws, APP_SECRET="rotated-1")
    assert store.app_secrets()[0] == NEW_APP_SECRET
    clock.advance(59.9)
    assert store.app_secrets()[0] == NEW_APP_SECRET
    clock.advance(0.1)
    assert store.app_secrets()[0] == "rotated-1"

    put(aws, APP_SECRET="rotated-2")
    assert store.app_secrets()[0] == "rotated-1"
    store.reset_cache()
    assert store.app_secrets()[0] == "rotated-2"


def test_the_ttl_is_configurable(aws, monkeypatch) -> None:
    monkeypatch.setenv("SECRETS_TTL_SECONDS", "5")
    clock = Clock()
    store = SecretStore(clock=clock)
    store.app_secrets()
    put(aws, APP_SECRET="rotated")
    clock.advance(5)
    assert store.app_secrets()[0] == "rotated"

    monkeypatch.setenv("SECRETS_TTL_SECONDS", "soon")
    clock.advance(5)
    with pytest.raises(ConfigurationError, match="SECRETS_TTL_SECONDS"):
        store.app_secrets()


def test_an_outage_keeps_serving_the_last_good_copy(aws) -> None:
    clock = Clock()
    store = SecretStore(clock=clock)
    assert store.app_secrets()[0] == NEW_APP_SECRET

    aws.delete_secret(SecretId=SECRET_NAME, ForceDeleteWithoutRecovery=True)
    clock.advance(3600)
    assert store.app_secrets()[0] == NEW_APP_SECRET

    with pytest.raises(SecretsUnavailable, match=SECRET_NAME):
        SecretStore(clock=clock).app_secrets()


def test_a_secret_that_is_not_a_json_object_is_a_configuration_error(aws) -> None:
    aws.put_secret_value(SecretId=SECRET_NAME, SecretString="APP_SECRET=hunter2")
    with pytest.raises(ConfigurationError) as raised:
        secret_store.app_secrets()
    assert "hunter2" not in str(raised.value)


def test_a_token_is_stored_in_a_secret_of_its_own_and_is_read_at_once(aws) -> None:
    clock = Clock()
    store = SecretStore(clock=clock)
    assert store.shop_token("iya-basket", "whatsapp") is None

    store.store_shop_token("iya-basket", "whatsapp", "EAAGiya", "1065409999", IN_A_MONTH)

    assert store.shop_token("iya-basket", "whatsapp") == "EAAGiya"
    assert stored_secret(aws, f"{SECRET_NAME}/shops/iya-basket/whatsapp") == {
        "access_token": "EAAGiya",
        "phone_number_id": "1065409999",
        "expires_at": IN_A_MONTH,
    }
    assert stored_secret(aws) == DOCUMENT  # the app's secret is never rewritten

    # Saving again (a reconnection) replaces the value of the existing secret.
    store.store_shop_token("iya-basket", "whatsapp", "EAAGiya-2", "1065409999", None)
    assert stored_secret(aws, f"{SECRET_NAME}/shops/iya-basket/whatsapp")["access_token"] == (
        "EAAGiya-2"
    )
    assert store.shop_token("iya-basket", "whatsapp") == "EAAGiya-2"


def test_a_shops_own_secret_wins_over_its_entry_in_the_older_document(aws) -> None:
    assert secret_store.shop_token("mama-put", "whatsapp") == "EAAGmamaput-wa"  # older layout

    secret_store.store_shop_token("mama-put", "whatsapp", "EAAGnew", "106540352242922", None)

    assert secret_store.shop_token("mama-put", "whatsapp") == "EAAGnew"
    assert secret_store.shop_token("mama-put", "instagram") == "IGmamaput"  # still the older one


def test_another_servers_token_is_read_once_the_ttl_passes(aws) -> None:
    clock = Clock()
    store = SecretStore(clock=clock)
    assert store.shop_token("iya-basket", "instagram") is None

    SecretStore().store_shop_token("iya-basket", "instagram", "IGiya", "17841400000000002", None)
    assert store.shop_token("iya-basket", "instagram") is None
    clock.advance(60)
    assert store.shop_token("iya-basket", "instagram") == "IGiya"


def test_concurrent_writers_in_secrets_manager_lose_no_shop(aws) -> None:
    """Two servers connecting two shops (and one shop's two platforms) at the same moment."""
    writes = [
        ("mama-put", "whatsapp", "EAAGmama-2"),
        ("iya-basket", "whatsapp", "EAAGiya"),
        ("iya-basket", "instagram", "IGiya"),
        ("bola-sons", "instagram", "IGbola"),
    ]
    all_at_once(
        [
            lambda shop=shop, platform=platform, token=token: SecretStore().store_shop_token(
                shop, platform, token, "17841400000000009", None
            )
            for shop, platform, token in writes
        ]
    )

    for shop, platform, token in writes:
        assert SecretStore().shop_token(shop, platform) == token
    assert stored_secret(aws) == DOCUMENT


def test_a_shop_id_that_could_name_another_secret_is_refused(aws) -> None:
    for shop_id in ("mama-put/whatsapp", "../meta", "", "Mama Put"):
        with pytest.raises(ValueError, match="shop id"):
            secret_store.store_shop_token(shop_id, "whatsapp", "EAAG", "1", None)
    assert aws.list_secrets()["SecretList"][0]["Name"] == SECRET_NAME
    assert len(aws.list_secrets()["SecretList"]) == 1


def test_an_expired_token_in_the_secret_is_absent(aws) -> None:
    past = int(time.time()) - 60
    secret_store.store_shop_token("mama-put", "whatsapp", "EAAGold", "106540352242922", past)
    assert secret_store.shop_token("mama-put", "whatsapp") is None


def test_a_refreshed_token_goes_to_the_shops_own_secret_with_its_account(aws) -> None:
    """The older document's entry is read, and the refresh lands in the shop's own secret."""
    old = DOCUMENT["shops"]["mama-put"]["instagram"]["access_token"]

    assert not secret_store.replace_shop_token("mama-put", "instagram", "IGother", "IGnew", 1)
    assert secret_store.replace_shop_token("mama-put", "instagram", old, "IGnew", IN_A_MONTH)

    assert stored_secret(aws, f"{SECRET_NAME}/shops/mama-put/instagram") == {
        "access_token": "IGnew",
        "account_id": "17841400000000001",
        "expires_at": IN_A_MONTH,
    }
    assert stored_secret(aws) == DOCUMENT
    assert SecretStore().stored_shop_token("mama-put", "instagram") == secret_store.StoredToken(
        "IGnew", "17841400000000001", IN_A_MONTH
    )
    # The own secret is what a second refresh compares with.
    assert not secret_store.replace_shop_token("mama-put", "instagram", old, "IGthird", 1)


# Rotating the Meta app secret


def test_a_webhook_signed_with_the_previous_app_secret_is_accepted_during_the_rotation_only(
    aws,
) -> None:
    body = json.dumps(whatsapp([wa_text("hi")])).encode()
    old, new = signature_header(OLD_APP_SECRET, body), signature_header(NEW_APP_SECRET, body)
    assert signature_is_valid(secret_store.app_secrets(), body, old)
    assert signature_is_valid(secret_store.app_secrets(), body, new)

    put(aws, APP_SECRET_PREVIOUS=None)
    secret_store.reset_cache()

    assert not signature_is_valid(secret_store.app_secrets(), body, old)
    assert signature_is_valid(secret_store.app_secrets(), body, new)


async def test_the_whatsapp_channel_follows_a_rotation_without_a_restart(monkeypatch) -> None:
    monkeypatch.setenv("META_APP_SECRET", NEW_APP_SECRET)
    monkeypatch.setenv("META_APP_SECRET_PREVIOUS", OLD_APP_SECRET)
    monkeypatch.setenv("META_VERIFY_TOKEN", "verify")
    get_settings.cache_clear()
    with db.session_scope() as session:
        shops.add_shop(session, "mama-put", "Mama Put Fabrics")
    channel = WhatsAppInput.from_credentials(None)
    app = Sanic(f"test-rotation-{uuid.uuid4().hex[:8]}")

    async def ignore(message: Any) -> None:
        raise AssertionError("no message reaches Rasa: the account belongs to no shop")

    app.blueprint(channel.blueprint(ignore), url_prefix="/webhooks/whatsapp")
    url = "/webhooks/whatsapp/webhook"
    payload = whatsapp([wa_text("hi")], phone_number_id="999999")

    body, headers = signed(payload, secret=OLD_APP_SECRET)
    _, response = await app.asgi_client.post(url, content=body, headers=headers)
    assert response.status == 200

    monkeypatch.delenv("META_APP_SECRET_PREVIOUS")
    _, response = await app.asgi_client.post(url, content=body, headers=headers)
    assert response.status == 403
    body, headers = signed(payload, secret=NEW_APP_SECRET)
    _, response = await app.asgi_client.post(url, content=body, headers=headers)
    assert response.status == 200


# Rotating the JWT key


def signed_with(token: str, secret: str) -> dict:
    """The token's claims, checked against the buyer-token key derived from ``secret``."""
    audience = get_settings().jwt_audience
    return jwt.decode(
        token, key_for(Purpose.BUYER, secret), algorithms=["HS256"], audience=audience
    )


def test_buyer_tokens_survive_a_jwt_key_rotation_in_development(monkeypatch) -> None:
    monkeypatch.setenv("JWT_SECRET", OLD_JWT)
    get_settings.cache_clear()
    old_token = issue_buyer_token(get_settings(), shop_id="mama-put", buyer_id=42)["token"]

    monkeypatch.setenv("JWT_SECRET", NEW_JWT)
    monkeypatch.setenv("JWT_SECRET_PREVIOUS", OLD_JWT)
    get_settings.cache_clear()
    settings = get_settings()
    assert decode_buyer_token(settings, old_token)["sub"] == "42"
    new_token = issue_buyer_token(settings, shop_id="mama-put", buyer_id=7)["token"]
    assert signed_with(new_token, NEW_JWT)

    monkeypatch.delenv("JWT_SECRET_PREVIOUS")
    with pytest.raises(jwt.InvalidSignatureError):
        decode_buyer_token(settings, old_token)
    assert decode_buyer_token(settings, new_token)["sub"] == "7"


def test_buyer_tokens_survive_a_jwt_key_rotation_in_secrets_manager(aws) -> None:
    settings = get_settings()
    put(aws, JWT_SECRET=OLD_JWT)
    secret_store.reset_cache()
    old_token = issue_buyer_token(settings, shop_id="mama-put", buyer_id=42)["token"]
    with pytest.raises(jwt.InvalidSignatureError):
        signed_with(old_token, JWT_SECRET)

    put(aws, JWT_SECRET=NEW_JWT, JWT_SECRET_PREVIOUS=OLD_JWT)
    secret_store.reset_cache()
    assert decode_buyer_token(settings, old_token)["sub"] == "42"
    new_token = issue_buyer_token(settings, shop_id="mama-put", buyer_id=7)["token"]
    assert signed_with(new_token, NEW_JWT)

    put(aws, JWT_SECRET=NEW_JWT)
    secret_store.reset_cache()
    with pytest.raises(jwt.InvalidSignatureError):
        decode_buyer_token(settings, old_token)


def test_a_short_jwt_key_in_the_secret_is_refused(aws) -> None:
    put(aws, JWT_SECRET="short")
    secret_store.reset_cache()
    with pytest.raises(ConfigurationError, match="JWT_SECRET"):
        secret_store.jwt_key()


# The JWT key at start-up


def test_with_secrets_manager_the_jwt_key_need_not_be_in_the_environment(aws, monkeypatch) -> None:
    monkeypatch.delenv("JWT_SECRET")
    get_settings.cache_clear()
    settings = get_settings()

    token = issue_buyer_token(settings, shop_id="mama-put", buyer_id=42)["token"]
    assert signed_with(token, NEW_JWT)["sub"] == "42"
    assert decode_buyer_token(settings, token)["sub"] == "42"


def test_with_secrets_manager_the_environments_jwt_key_is_not_used(aws) -> None:
    settings = get_settings()
    token = issue_buyer_token(settings, shop_id="mama-put", buyer_id=7)["token"]
    with pytest.raises(jwt.InvalidSignatureError):
        signed_with(token, JWT_SECRET)


def test_no_jwt_key_anywhere_stops_the_start_with_what_to_set(monkeypatch) -> None:
    monkeypatch.delenv("JWT_SECRET")
    with pytest.raises(ConfigurationError, match="JWT_SECRET must be set") as raised:
        secret_store.check_jwt_key()
    assert "make run" in str(raised.value)


def test_a_secret_without_a_jwt_key_stops_the_start(aws, monkeypatch) -> None:
    put(aws, JWT_SECRET=None)
    with pytest.raises(ConfigurationError, match=f"the secret {SECRET_NAME} must hold JWT_SECRET"):
        secret_store.check_jwt_key()  # the environment's JWT_SECRET does not stand in


def test_an_unreadable_secret_stops_the_start_without_a_traceback_of_values(
    aws, monkeypatch
) -> None:
    monkeypatch.setenv("META_SECRET_NAME", "trustguard/missing")
    with pytest.raises(ConfigurationError, match="trustguard/missing") as raised:
        secret_store.check_jwt_key()
    assert NEW_JWT not in str(raised.value)


# The Instagram app


def test_the_instagram_app_falls_back_to_the_meta_app(monkeypatch) -> None:
    monkeypatch.setenv("META_APP_ID", "1234567890")
    monkeypatch.setenv("META_APP_SECRET", NEW_APP_SECRET)
    assert secret_store.instagram_app_id() == "1234567890"
    assert secret_store.instagram_app_secret() == NEW_APP_SECRET

    monkeypatch.setenv("INSTAGRAM_APP_ID", "990602627938098")
    monkeypatch.setenv("INSTAGRAM_APP_SECRET", "instagram-app-secret")
    assert secret_store.instagram_app_id() == "990602627938098"
    assert secret_store.instagram_app_secret() == "instagram-app-secret"
    assert secret_store.app_secrets() == [NEW_APP_SECRET]  # webhooks: unchanged


def test_the_instagram_app_comes_from_the_secret_in_production(aws, monkeypatch) -> None:
    monkeypatch.setenv("INSTAGRAM_APP_SECRET", "env-instagram-secret")
    assert secret_store.instagram_app_id() == "1234567890"
    assert secret_store.instagram_app_secret() == NEW_APP_SECRET

    put(aws, INSTAGRAM_APP_ID="990602627938098", INSTAGRAM_APP_SECRET="ig-secret-from-aws")
    secret_store.reset_cache()
    assert secret_store.instagram_app_id() == "990602627938098"
    assert secret_store.instagram_app_secret() == "ig-secret-from-aws"
