"""Running an action the way the action server does, and reading what it said."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher


async def run_action(action: Action, tracker: Tracker) -> Tuple[List[Dict[str, Any]], List[Dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher.messages, events


def responses(messages: List[Dict[str, Any]]) -> List[str]:
    return [message["response"] for message in messages]
