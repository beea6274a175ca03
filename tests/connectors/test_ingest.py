"""The acknowledging endpoint of a cluster: the channels of the production credentials, Meta's
webhooks stored and acknowledged, no turn run and no model code loaded."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from bot.platform import db
from bot.platform.settings import PROJECT_ROOT, ConfigurationError, get_settings
from connectors.ingest import DEFAULT_CREDENTIALS, create_app
from devtools.graph_double import GraphDoubleThread
from tests.helpers.channels import unanswered
from tests.helpers.meta import APP_SECRET, VERIFY_TOKEN, add_meta_shop, signed, wa_text, whatsapp


@pytest.fixture(autouse=True)
def meta_app(monkeypatch: pytest.MonkeyPatch, graph: GraphDoubleThread) -> None:
    monkeypatch.setenv("META_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("META_VERIFY_TOKEN", VERIFY_TOKEN)
    monkeypatch.setenv("GRAPH_API_URL", graph.url)
    get_settings.cache_clear()
    with db.session_scope() as session:
        add_meta_shop(session)


@pytest.fixture
def ingest_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTGUARD_ROLE", "ingest")
    get_settings.cache_clear()


def production_credentials() -> dict:
    return yaml.safe_load(DEFAULT_CREDENTIALS.read_text())


async def test_webhooks_are_stored_and_acknowledged_and_no_turn_runs(ingest_role: None) -> None:
    app = create_app(production_credentials())
    body, headers = signed(whatsapp([wa_text("hi")]))
    _, response = await app.asgi_client.post(
        "/webhooks/whatsapp/webhook", content=body, headers=headers
    )
    assert response.status == 200
    assert unanswered() == 1  # left for the turn servers
    _, health = await app.asgi_client.get("/")
    assert health.status == 200


async def test_the_production_routes_are_mounted_where_rasa_mounts_them(ingest_role: None) -> None:
    app = create_app(production_credentials())
    paths = {route.path for route in app.router.routes}
    assert {
        "webhooks/whatsapp/webhook",
        "webhooks/instagram/webhook",
        "webhooks/connect/start",
        "webhooks/receipts/upload",
    } <= paths
    assert not any(path.startswith("webhooks/rest") for path in paths)


def test_it_refuses_to_start_in_another_role() -> None:
    with pytest.raises(ConfigurationError, match="TRUSTGUARD_ROLE=ingest"):
        create_app(production_credentials())


def test_it_loads_no_model_code() -> None:
    """TensorFlow (and the Rasa server) stay out of the process: its memory is the channels'."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, connectors.ingest; print('tensorflow' in sys.modules)",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"
