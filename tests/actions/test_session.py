"""A new session learns its shop from the conversation's identity, not from a client."""

from __future__ import annotations

from typing import Any

from actions.session import ActionSessionStart
from bot.platform.settings import get_settings
from tests.actions.helpers import run_action
from tests.conftest import make_shop, tracker_for


def slots_set(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def test_a_whatsapp_session_is_the_shop_of_its_conversation() -> None:
    make_shop()
    tracker = tracker_for("2348012345678", channel="whatsapp")
    tracker.slots["session_started_metadata"] = tracker.latest_message["metadata"] | {
        "user_name": "Ada"
    }
    _, events = await run_action(ActionSessionStart(), tracker)
    assert slots_set(events) == {
        "shop_id": "mama-put",
        "channel": "whatsapp",
        "buyer_name": "Ada",
        "shop_name": "Mama Put Fabrics",
    }


async def test_rest_metadata_cannot_choose_the_shop_channel_or_name(monkeypatch) -> None:
    make_shop()
    make_shop("iya-basket", "Iya Basket")
    monkeypatch.setenv("DEFAULT_SHOP", "mama-put")
    get_settings.cache_clear()
    tracker = tracker_for("x", shop=None)
    tracker.slots["session_started_metadata"] = {
        "shop_id": "iya-basket",
        "channel": "whatsapp",
        "user_name": "Mallory",
    }
    _, events = await run_action(ActionSessionStart(), tracker)
    assert slots_set(events) == {
        "shop_id": "mama-put",
        "channel": "rest",
        "shop_name": "Mama Put Fabrics",
    }
