"""The development REST channel: Rasa's ``rest`` channel, with identities of its own.

Rasa's REST channel takes the caller's word for everything: its ``metadata`` (which our actions
once read for the shop, channel and buyer), its ``input_channel``, and a ``sender`` such as
``shop:whatsapp:2348031234567``, which is the id of that buyer's real WhatsApp conversation. Here
a REST conversation is only ever its own sender's: a sender with ``:`` is refused, no metadata is
passed on, and the input channel is always ``rest``. It is for development and tests; the
production configuration (``credentials.production.yml``) does not mount it.
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels.rest import RestInput
from sanic.exceptions import InvalidUsage
from sanic.request import Request

# As Rasa's REST channel is named in credentials.yml, so the route stays /webhooks/rest/webhook.
NAME = "rest"


class DevelopmentRestInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return NAME

    async def _extract_sender(self, req: Request) -> str | None:
        body = req.json if isinstance(req.json, dict) else {}
        sender = body.get("sender")
        if not isinstance(sender, str) or not sender.strip():
            raise InvalidUsage("give a sender: a name of your own for this conversation")
        if ":" in sender:
            # shop:channel:user names a WhatsApp or Instagram conversation.
            raise InvalidUsage("a REST sender may not contain ':'")
        return sender

    def _extract_input_channel(self, req: Request) -> str:
        return NAME

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        return None
