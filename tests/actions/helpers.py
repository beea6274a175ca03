"""Running an action the way the action server does, reading what it said, and the orders it
works on."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.platform import db
from bot.shop import orders
from bot.shop.buyers import get_or_create_buyer


async def run_action(action: Action, tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher.messages, events


def responses(messages: list[dict[str, Any]]) -> list[str]:
    return [message["response"] for message in messages]


def make_order(
    shop_id: str, user_id: str, naira: int = 25_000, what: str = "Ankara, 6 yards"
) -> str:
    """A pending order of the buyer (on the REST channel, made if need be); its id."""
    with db.session_scope() as session:
        buyer, _ = get_or_create_buyer(session, shop_id, "rest", user_id)
        return orders.create_order(session, buyer, naira * 100, what).id
