"""The WhatsApp and Instagram channels as Rasa mounts them, with a stand-in for Rasa itself."""

from __future__ import annotations

import uuid

from rasa.core.channels.channel import UserMessage
from sanic import Sanic


class RasaStandIn:
    """Records each message and answers it through the channel's output channel, as Rasa does."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"got: {message.text}")

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.messages]


def app_for(channel_class: type, rasa: RasaStandIn) -> Sanic:
    """A Sanic app serving the channel's blueprint where Rasa mounts it."""
    channel = channel_class.from_credentials(None)
    app = Sanic(f"test-{uuid.uuid4().hex[:8]}")
    app.blueprint(channel.blueprint(rasa), url_prefix=f"/webhooks/{channel.url_prefix()}")
    return app
