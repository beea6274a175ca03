"""A new conversation session learns which shop it belongs to."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.platform.db import session_scope
from bot.platform.models import META_CHANNELS
from bot.shop.shops import get_shop, identify


def _shop_name(shop_id: str | None) -> str | None:
    if not shop_id:
        return None
    with session_scope() as session:
        shop = get_shop(session, shop_id)
        return shop.name if shop else None


class ActionSessionStart(Action):
    """Sets ``shop_id``, ``shop_name`` and ``channel`` so every response speaks for the shop."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        # The metadata of the message that starts the session; a Meta channel's is ours, and the
        # REST channel passes none on.
        metadata = tracker.get_slot("session_started_metadata") or {}
        who = identify(tracker.sender_id, metadata.get("channel"), tracker.get_slot("shop_id"))
        events: list[dict[str, Any]] = [
            SessionStarted(),
            SlotSet("shop_id", who.shop_id),
            SlotSet("channel", str(who.channel)),
        ]
        if who.channel in META_CHANNELS and metadata.get("user_name"):
            events.append(SlotSet("buyer_name", metadata["user_name"]))
        name = await asyncio.to_thread(_shop_name, who.shop_id)
        if name:
            events.append(SlotSet("shop_name", name))
        events.append(ActionExecuted("action_listen"))
        return events
