"""Shared fixtures: a real, migrated SQLite file per test (or a throwaway PostgreSQL database),
settings from a clean environment, moto for S3, the Graph API double, and builders for rasa_sdk
trackers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws
from rasa_sdk import Tracker
from sqlalchemy.orm import Session

from bot.platform import db, storage
from bot.platform import secrets as secret_store
from bot.platform.models import Buyer, Shop, utcnow
from bot.platform.settings import get_settings
from bot.shop import buyers, shops
from devtools.graph_double import GraphDoubleThread
from tests.helpers.postgres import throwaway_database

JWT_SECRET = "test-jwt-secret-0123456789abcdefghijklmnop"
OTP_SECRET = "test-otp-secret-0123456789abcdefghijklmnop"
BUCKET = "test-receipts"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once with Alembic; each test gets its own copy of the file."""
    path = tmp_path_factory.mktemp("template") / "app.db"
    db.migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(tmp_path: Path, migrated_template: Path) -> str:
    path = tmp_path / "app.db"
    shutil.copy(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test's own is copied from, dropped at the end;
    tests that need it are skipped, saying why, when no PostgreSQL answers."""
    with throwaway_database() as url:
        db.migrate(url)
        db.engine_for(url).dispose()
        yield sa.engine.make_url(url).database


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A migrated PostgreSQL database of the test's own, dropped afterwards."""
    with throwaway_database(template=postgres_template) as url:
        yield url


@pytest.fixture(autouse=True)
def environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path
) -> Iterator[None]:
    """Every test starts from a known environment, whatever the developer's shell or .env say."""
    for name in (
        "DEFAULT_SHOP",
        "BUYER_PORTAL_URL",
        "OTP_TTL_SECONDS",
        "JWT_TTL_SECONDS",
        "RECEIPTS_BUCKET",
        "PUBLIC_BASE_URL",
        "RASA_PORT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("OTP_SECRET", OTP_SECRET)
    # The embedded default: receipts in a directory of the test's own.
    monkeypatch.setenv("RECEIPTS_DIR", str(tmp_path / "receipts"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # Never a developer's real secrets: no Secrets Manager, and a token file of the test's own.
    for name in ("META_SECRET_NAME", "META_APP_SECRET_PREVIOUS", "JWT_SECRET_PREVIOUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHOP_SECRETS_FILE", str(tmp_path / "shop-secrets.json"))
    get_settings.cache_clear()
    secret_store.reset_cache()
    storage.reset_cache()
    yield
    get_settings.cache_clear()
    secret_store.reset_cache()
    storage.reset_cache()


@pytest.fixture
def restore_environ() -> Iterator[None]:
    """The whole environment as it was before the test, for tests that run ``bot.cli.main``.

    ``main`` loads ``.env`` with ``os.environ.setdefault`` (``load_dotenv``), behind monkeypatch's
    back: monkeypatch undoes only the changes made through it, so a developer's ``.env`` values
    would stay set for every later test. This puts back the saved copy, whoever changed what.
    """
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def graph_app_secret() -> str | None:
    """The app secret the Graph double checks OAuth exchanges with: none, unless a conftest or a
    module below overrides this fixture (tests/bot/meta: the Meta app's)."""
    return None


@pytest.fixture
def graph(graph_app_secret: str | None) -> Iterator[GraphDoubleThread]:
    """The Graph API double, a real HTTP server on loopback."""
    with GraphDoubleThread(app_secret=graph_app_secret) as double:
        yield double


@pytest.fixture
def session() -> Iterator[Session]:
    with db.session_scope() as session:
        yield session


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Receipts in S3 (moto in this process) instead of the local directory."""
    monkeypatch.setenv("RECEIPTS_BUCKET", BUCKET)
    get_settings.cache_clear()
    storage.reset_cache()
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client
    storage.reset_cache()


def make_shop(shop_id: str = "mama-put", name: str = "Mama Put Fabrics") -> Shop:
    with db.session_scope() as session:
        return shops.add_shop(session, shop_id, name)


def make_buyer(
    shop_id: str, user_id: str, *, channel: str = "rest", verified: bool = False
) -> Buyer:
    with db.session_scope() as session:
        buyer, _ = buyers.get_or_create_buyer(session, shop_id, channel, user_id)
        if verified:
            buyer.verified_at = utcnow()
        return buyer


def tracker_for(
    user_id: str,
    text: str = "",
    *,
    intent: str = "greet",
    shop: str | None = "mama-put",
    channel: str = "rest",
    entities: dict[str, str] | None = None,
    slots: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    ranking: list[dict[str, Any]] | None = None,
) -> Tracker:
    """A tracker as the action server receives it for the buyer's newest message (``ranking``:
    the model's intent ranking, when the test is about how sure it was).

    On a Meta channel the conversation is ``shop:channel:user`` and the message carries the
    channel's metadata; on REST the conversation is the sender's own and the shop is the one its
    session started in (the ``shop_id`` slot).
    """
    slots = dict(slots or {})
    if channel == "rest":
        sender_id = user_id
        if shop:
            slots.setdefault("shop_id", shop)
    else:
        sender_id = f"{shop}:{channel}:{user_id}"
        metadata = {"shop_id": shop, "channel": channel, "user_id": user_id, **(metadata or {})}
    latest_message = {
        "text": text,
        "intent": ranking[0] if ranking else {"name": intent, "confidence": 1.0},
        "intent_ranking": ranking or [{"name": intent, "confidence": 1.0}],
        "entities": [{"entity": k, "value": v} for k, v in (entities or {}).items()],
        "metadata": metadata or {},
    }
    user_event = {
        "event": "user",
        "text": text,
        "parse_data": latest_message,
        "input_channel": channel,
        "metadata": metadata or {},
    }
    return Tracker(
        sender_id=sender_id,
        slots=slots,
        latest_message=latest_message,
        events=[*(events or []), user_event],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
