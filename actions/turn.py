"""Who is talking to which shop, read from the tracker once per action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker

from bot.platform.models import META_CHANNELS, Channel
from bot.shop.shops import resolve_shop_id


@dataclass(frozen=True)
class Turn:
    shop_id: str | None
    channel: str
    user_id: str
    display_name: str | None
    text: str
    entities: dict[str, str]
    previous_action: str | None
    slots: dict[str, Any]

    @classmethod
    def from_tracker(cls, tracker: Tracker) -> Turn:
        """Channels that reach Rasa without our metadata (REST, ``rasa shell``) count as REST."""
        message = tracker.latest_message or {}
        metadata: dict[str, Any] = message.get("metadata") or {}
        channel = metadata.get("channel") or tracker.get_slot("channel")
        if channel not in META_CHANNELS:
            channel = Channel.REST
        entities: dict[str, str] = {}
        for entity in message.get("entities") or []:
            entities.setdefault(entity.get("entity"), str(entity.get("value")))
        return cls(
            shop_id=resolve_shop_id(metadata, tracker.get_slot("shop_id"), tracker.sender_id),
            channel=channel,
            user_id=str(metadata.get("user_id") or tracker.sender_id),
            display_name=metadata.get("user_name"),
            text=message.get("text") or "",
            entities=entities,
            previous_action=_bot_action_before_latest_message(tracker),
            slots=dict(tracker.slots),
        )


def _bot_action_before_latest_message(tracker: Tracker) -> str | None:
    """The last thing the bot did before the buyer's newest message (yes/no answers need it)."""
    seen_user_message = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user_message:
                return None
            seen_user_message = True
        elif seen_user_message and event.get("event") == "action":
            name = event.get("name")
            if name not in ("action_listen", None):
                return name
    return None
