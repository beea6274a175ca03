"""The Meta app of the OAuth and token tests: its id and secret, which the Graph API double checks
here, and every Meta host (graph.facebook.com, api.instagram.com, graph.instagram.com) played by
the double."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.platform import db
from bot.platform import secrets as secret_store
from bot.platform.settings import get_settings
from devtools.graph_double import GraphDoubleThread
from tests.helpers.meta import add_meta_shop

APP_ID = "1234567890"
APP_SECRET = "test-app-secret-oauth-7c1d"
REDIRECT_URI = "https://trustguard.example/webhooks/connect/callback"


@pytest.fixture
def graph_app_secret() -> str:
    return APP_SECRET


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    return tmp_path / "shop-secrets.json"


@pytest.fixture
def meta_app(
    monkeypatch: pytest.MonkeyPatch, graph: GraphDoubleThread, secrets_file: Path
) -> Iterator[None]:
    """The environment of a server of the Meta app, tokens kept in ``secrets_file``. Every Meta
    host is the double on loopback, and no token, Instagram app, dialog URL or API version comes
    from the developer's environment (nor Secrets Manager or a previous secret: the root
    ``environment`` sees to those)."""
    for name in (
        "WHATSAPP_ACCESS_TOKEN",
        "INSTAGRAM_ACCESS_TOKEN",
        "META_OAUTH_DIALOG_URL",
        "INSTAGRAM_OAUTH_DIALOG_URL",
        "INSTAGRAM_APP_ID",
        "INSTAGRAM_APP_SECRET",
        "GRAPH_API_VERSION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("META_APP_ID", APP_ID)
    monkeypatch.setenv("META_APP_SECRET", APP_SECRET)
    for name in ("GRAPH_API_URL", "INSTAGRAM_API_URL", "INSTAGRAM_GRAPH_API_URL"):
        monkeypatch.setenv(name, graph.url)
    monkeypatch.setenv("SHOP_SECRETS_FILE", str(secrets_file))
    get_settings.cache_clear()
    secret_store.reset_cache()
    yield
    secret_store.reset_cache()


@pytest.fixture(params=["sqlite", "postgresql"])
def shop_on_each_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test runs twice: on its SQLite file and on a throwaway database of the machine's
    PostgreSQL, each holding the Meta shop of the channel tests."""
    if request.param == "postgresql":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("postgres_url"))
        get_settings.cache_clear()
    with db.session_scope() as session:
        add_meta_shop(session)
