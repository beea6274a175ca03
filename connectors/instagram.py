"""Instagram Messaging channel: ``/webhooks/instagram/webhook``.

The shop is the owner of the Instagram professional account (``recipient.id`` / ``entry.id``).
Shops connect with Instagram Login, whose tokens work on graph.instagram.com only, so this
channel's Graph calls go there (``INSTAGRAM_GRAPH_API_URL``).
"""

from __future__ import annotations

from typing import Any

from bot.meta.outbound import instagram_messages
from bot.meta.webhooks import InboundMessage, StatusUpdate, parse_instagram
from bot.platform import secrets as secret_store
from bot.platform.models import Channel
from bot.platform.settings import Settings
from connectors.meta.input import MetaInput
from connectors.meta.output import MetaOutput


class InstagramOutput(MetaOutput):
    """Text split at 1000 bytes, buttons as quick replies (at most 13), images as attachments."""

    @classmethod
    def name(cls) -> str:
        return Channel.INSTAGRAM

    def bodies(
        self,
        address: Any,
        text: str,
        buttons: list[dict[str, Any]],
        image_url: str | None,
        custom: dict[str, Any],
    ) -> list[dict[str, Any]]:
        return instagram_messages(address, text, buttons, image_url)


class InstagramInput(MetaInput):
    channel = Channel.INSTAGRAM

    @classmethod
    def graph_api_url(cls, settings: Settings) -> str:
        return settings.instagram_graph_api_url

    @classmethod
    def webhook_secrets(cls) -> list[str]:
        """Instagram Login apps sign webhooks with the Instagram app secret; the Meta app's
        secrets (current and previous) are accepted too."""
        own = secret_store.instagram_app_secret()
        meta = secret_store.app_secrets()
        return [own, *(secret for secret in meta if secret != own)] if own else meta

    @classmethod
    def output_class(cls) -> type:
        return InstagramOutput

    def parse(self, payload: Any) -> tuple[list[InboundMessage], list[StatusUpdate]]:
        return parse_instagram(payload)
