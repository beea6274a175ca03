"""A new conversation session learns which shop it belongs to."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.platform.db import session_scope
from bot.shop.shops import get_shop, resolve_shop_id


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
        metadata = tracker.get_slot("session_started_metadata") or {}
        shop_id = resolve_shop_id(metadata, tracker.get_slot("shop_id"), tracker.sender_id)
        events: list[dict[str, Any]] = [SessionStarted(), SlotSet("shop_id", shop_id)]
        if metadata.get("channel"):
            events.append(SlotSet("channel", metadata["channel"]))
        if metadata.get("user_name"):
            events.append(SlotSet("buyer_name", metadata["user_name"]))
        name = await asyncio.to_thread(_shop_name, shop_id)
        if name:
            events.append(SlotSet("shop_name", name))
        events.append(ActionExecuted("action_listen"))
        return events
