"""WhatsApp Cloud API channel: ``/webhooks/whatsapp/webhook``.

The shop is the owner of ``metadata.phone_number_id``; replies go out through that number.
"""

from __future__ import annotations

from typing import Any

from bot.meta.outbound import (
    ASK_FOR_PHONE,
    Recipient,
    whatsapp_contact_request,
    whatsapp_messages,
)
from bot.meta.webhooks import InboundMessage, StatusUpdate, parse_whatsapp
from bot.meta.whatsapp_users import recipient_of
from bot.platform.db import session_scope
from bot.platform.models import Channel
from connectors.meta.input import MetaInput
from connectors.meta.output import MetaOutput


class WhatsAppOutput(MetaOutput):
    """Text split at 4096 characters, buttons as reply buttons, a list, or numbered text; to
    the buyer's number when WhatsApp showed it, else to their business-scoped user id."""

    @classmethod
    def name(cls) -> str:
        return Channel.WHATSAPP

    def address_of(self, shop_id: str, key: str) -> Recipient:
        with session_scope() as session:
            return recipient_of(session, shop_id, key)

    def bodies(
        self,
        address: Any,
        text: str,
        buttons: list[dict[str, Any]],
        image_url: str | None,
        custom: dict[str, Any],
    ) -> list[dict[str, Any]]:
        if custom.get(ASK_FOR_PHONE) and not buttons and not image_url:
            return whatsapp_contact_request(address, text)
        return whatsapp_messages(address, text, buttons, image_url)


class WhatsAppInput(MetaInput):
    channel = Channel.WHATSAPP

    @classmethod
    def output_class(cls) -> type:
        return WhatsAppOutput

    def parse(self, payload: Any) -> tuple[list[InboundMessage], list[StatusUpdate]]:
        return parse_whatsapp(payload)
