"""The development REST channel over HTTP: its conversations are its senders' own."""

from __future__ import annotations

import uuid

import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from connectors.rest import DevelopmentRestInput

URL = "/webhooks/rest/webhook"


class Recorder:
    def __init__(self) -> None:
        self.messages: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, "hello")


@pytest.fixture
def rasa() -> Recorder:
    return Recorder()


@pytest.fixture
def app(rasa: Recorder) -> Sanic:
    app = Sanic(f"test-rest-{uuid.uuid4().hex[:8]}")
    channel = DevelopmentRestInput.from_credentials(None)
    app.blueprint(channel.blueprint(rasa), url_prefix="/webhooks/rest")
    return app


async def test_a_message_reaches_rasa_as_its_senders_own(app: Sanic, rasa: Recorder) -> None:
    body = {
        "sender": "ada",
        "message": "register",
        "input_channel": "whatsapp",
        "metadata": {"shop_id": "mama-put", "channel": "whatsapp", "user_id": "2348031234567"},
    }
    _, response = await app.asgi_client.post(URL, json=body)
    assert (response.status, response.json) == (200, [{"recipient_id": "ada", "text": "hello"}])
    (message,) = rasa.messages
    assert (message.sender_id, message.input_channel, message.metadata) == ("ada", "rest", None)


@pytest.mark.parametrize(
    "sender", ["mama-put:whatsapp:2348031234567", "a:b", ":", None, "", "  ", 42]
)
async def test_a_sender_that_is_not_a_name_of_its_own_is_refused(
    app: Sanic, rasa: Recorder, sender: object
) -> None:
    _, response = await app.asgi_client.post(URL, json={"sender": sender, "message": "hi"})
    assert response.status == 400
    assert rasa.messages == []
