"""Who is talking to which shop, read from the tracker once per action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker

from bot.platform.models import META_CHANNELS
from bot.shop.shops import identify


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
    # How sure the model was of each intent, best first (a button's payload has one, at 1.0).
    intent_ranking: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_tracker(cls, tracker: Tracker) -> Turn:
        """Who speaks comes from the channel the message came in on (``identify``); only a
        Meta channel's own metadata is read, for the buyer's profile name."""
        message = tracker.latest_message or {}
        input_channel = _input_channel_of_latest_message(tracker)
        who = identify(tracker.sender_id, input_channel, tracker.get_slot("shop_id"))
        metadata: dict[str, Any] = message.get("metadata") or {}
        entities: dict[str, str] = {}
        for entity in message.get("entities") or []:
            entities.setdefault(entity.get("entity"), str(entity.get("value")))
        return cls(
            shop_id=who.shop_id,
            channel=who.channel,
            user_id=who.user_id,
            display_name=metadata.get("user_name") if who.channel in META_CHANNELS else None,
            text=message.get("text") or "",
            entities=entities,
            previous_action=_bot_action_before_latest_message(tracker),
            slots=dict(tracker.slots),
            intent_ranking=tuple(message.get("intent_ranking") or ()),
        )


def _input_channel_of_latest_message(tracker: Tracker) -> str | None:
    """The channel Rasa recorded for the buyer's newest message (set by the input channel
    itself, which our REST channel never lets a client choose)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return event.get("input_channel")
    return None


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
