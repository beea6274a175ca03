"""Instagram Messaging channel: ``/webhooks/instagram/webhook``.

The shop is the owner of the Instagram professional account (``recipient.id`` / ``entry.id``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from bot.outbound import instagram_messages
from bot.webhooks import InboundMessage, StatusUpdate, parse_instagram
from connectors.meta import MetaInput, MetaOutput


class InstagramOutput(MetaOutput):
    """Text split at 1000 bytes, buttons as quick replies (at most 13), images as attachments."""

    @classmethod
    def name(cls) -> str:
        return "instagram"

    def bodies(
        self, user_id: str, text: str, buttons: List[Dict[str, Any]], image_url: str | None
    ) -> List[Dict[str, Any]]:
        return instagram_messages(user_id, text, buttons, image_url)


class InstagramInput(MetaInput):
    channel = "instagram"

    @classmethod
    def output_class(cls) -> type:
        return InstagramOutput

    def parse(self, payload: Any) -> Tuple[List[InboundMessage], List[StatusUpdate]]:
        return parse_instagram(payload)
