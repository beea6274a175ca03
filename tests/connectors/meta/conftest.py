"""Both shops of the channel tests, and the environment the channels start with."""

from __future__ import annotations

import pytest

from bot.platform import db
from bot.platform.settings import get_settings
from bot.shop import shops
from devtools.graph_double import GraphDoubleThread
from tests.helpers.meta import (
    APP_SECRET,
    IG_ACCOUNT_ID,
    OTHER_PHONE_NUMBER_ID,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    add_meta_shop,
)

# The shop each account belongs to, as meta_env creates them.
SHOP_OF_ACCOUNT = {
    ("whatsapp", PHONE_NUMBER_ID): "mama-put",
    ("whatsapp", OTHER_PHONE_NUMBER_ID): "iya-basket",
    ("instagram", IG_ACCOUNT_ID): "mama-put",
}


@pytest.fixture(autouse=True)
def meta_env(monkeypatch: pytest.MonkeyPatch, graph: GraphDoubleThread) -> None:
    monkeypatch.setenv("META_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("META_VERIFY_TOKEN", VERIFY_TOKEN)
    monkeypatch.setenv("GRAPH_API_URL", graph.url)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "test-whatsapp-token")
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "test-instagram-token")
    get_settings.cache_clear()
    with db.session_scope() as session:
        add_meta_shop(session)
        shops.add_shop(session, "iya-basket", "Iya Basket", whatsapp_phone_id=OTHER_PHONE_NUMBER_ID)
