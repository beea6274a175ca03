"""The Rasa server a Meta channel's webhook reached: its message handler runs conversation turns,
and its agent words what the channel says outside a turn.

Two things are said with no turn at all: the apology for messages skipped as stale after an
outage, and the one for a turn that never replied. Both are domain responses, worded by the
server's own response generator (``connectors.nlg``: the shop's tone and own wording) and sent
through the channel's output, which records the send. No NLU, policy or action runs, and the
conversation history is left as it was.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.shared.core.trackers import DialogueStateTracker

if TYPE_CHECKING:
    from rasa.core.agent import Agent
    from sanic import Sanic

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class RasaServer:
    """What a channel uses of the server it runs in."""

    def __init__(self, app: Sanic, on_new_message: OnNewMessage) -> None:
        self._app = app
        self.on_new_message = on_new_message

    def _agent(self) -> Agent | None:
        """Read at each use: loading another model replaces the agent."""
        return getattr(self._app.ctx, "agent", None)

    @contextlib.asynccontextmanager
    async def conversation_lock(self, sender_id: str) -> AsyncIterator[None]:
        """The lock Rasa holds around each turn of the conversation; with a Redis lock store it
        is shared by every server."""
        agent = self._agent()
        if agent is None:
            yield
            return
        async with agent.lock_store.lock(sender_id):
            yield

    async def say(self, utter_action: str, sender_id: str, output: OutputChannel) -> bool:
        """Send a domain response to the conversation; False when there is no model to word it."""
        agent = self._agent()
        response = None
        if agent is not None and agent.domain is not None:
            tracker = DialogueStateTracker(sender_id, agent.domain.slots)
            response = await agent.nlg.generate(utter_action, tracker, output.name())
        if response is None:
            logger.error("response not sent: no model loaded", extra={"response": utter_action})
            return False
        await output.send_response(sender_id, response)
        return True
