"""Who speaks comes from the channel, never from what a client sent (actions.turn, bot.shop.shops
.identify)."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker

from actions.turn import Turn
from bot.platform.settings import get_settings
from tests.conftest import tracker_for

IMPERSONATION = {"shop_id": "iya-basket", "channel": "whatsapp", "user_id": "2348031234567"}


def test_a_whatsapp_message_speaks_for_its_own_conversation() -> None:
    turn = Turn.from_tracker(tracker_for("2348012345678", "hi", channel="whatsapp"))
    assert (turn.shop_id, turn.channel, turn.user_id) == ("mama-put", "whatsapp", "2348012345678")


def test_rest_metadata_naming_a_whatsapp_buyer_changes_nothing() -> None:
    tracker = tracker_for("x", "register", metadata=IMPERSONATION)
    turn = Turn.from_tracker(tracker)
    assert (turn.shop_id, turn.channel, turn.user_id) == ("mama-put", "rest", "x")


@pytest.mark.parametrize("claimed", ["rest", "cmdline", None, "instagram"])
def test_a_meta_conversation_id_on_another_input_channel_is_a_rest_sender(claimed) -> None:
    """``mama-put:whatsapp:234…`` typed as a sender elsewhere is just a REST name."""
    tracker = tracker_for("2348031234567", "hi", channel="whatsapp")
    tracker.events[-1]["input_channel"] = claimed
    turn = Turn.from_tracker(tracker)
    assert (turn.channel, turn.user_id) == ("rest", "mama-put:whatsapp:2348031234567")


def test_rest_without_a_session_shop_is_in_the_default_shop(monkeypatch) -> None:
    monkeypatch.setenv("DEFAULT_SHOP", "demo-shop")
    get_settings.cache_clear()
    tracker = tracker_for("ada", "hi", shop=None, metadata=IMPERSONATION)
    assert Turn.from_tracker(tracker).shop_id == "demo-shop"


def test_only_a_meta_channel_gives_the_buyer_a_name() -> None:
    named = {"user_name": "Ada"}
    assert Turn.from_tracker(tracker_for("1", channel="whatsapp", metadata=named)).display_name
    assert Turn.from_tracker(tracker_for("1", metadata=named)).display_name is None


def test_a_tracker_without_a_user_event_is_rest() -> None:
    tracker = Tracker("mama-put:whatsapp:1", {}, {}, [], False, None, {}, "action_listen")
    assert Turn.from_tracker(tracker).channel == "rest"
