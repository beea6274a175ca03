"""WhatsApp Cloud API channel: ``/webhooks/whatsapp/webhook``.

The shop is the owner of ``metadata.phone_number_id``; replies go out through that number.
"""

from __future__ import annotations

from typing import Any

from bot.meta.outbound import whatsapp_messages
from bot.meta.webhooks import InboundMessage, StatusUpdate, parse_whatsapp
from bot.platform.models import Channel
from connectors.meta.input import MetaInput
from connectors.meta.output import MetaOutput


class WhatsAppOutput(MetaOutput):
    """Text split at 4096 characters, buttons as reply buttons, a list, or numbered text."""

    @classmethod
    def name(cls) -> str:
        return Channel.WHATSAPP

    def bodies(
        self, user_id: str, text: str, buttons: list[dict[str, Any]], image_url: str | None
    ) -> list[dict[str, Any]]:
        return whatsapp_messages(user_id, text, buttons, image_url)


class WhatsAppInput(MetaInput):
    channel = Channel.WHATSAPP

    @classmethod
    def output_class(cls) -> type:
        return WhatsAppOutput

    def parse(self, payload: Any) -> tuple[list[InboundMessage], list[StatusUpdate]]:
        return parse_whatsapp(payload)
