"""Replies through the Graph API, as the shop the conversation belongs to."""

from __future__ import annotations

import abc
import asyncio
import logging
from typing import Any

from rasa.core.channels.channel import OutputChannel

from bot.meta import inbox
from bot.meta.accounts import AccountDirectory
from bot.meta.graph import GraphClient
from bot.meta.sends import send_recorded
from bot.platform.masking import mask_user_id
from bot.shop.shops import parse_conversation_id

logger = logging.getLogger(__name__)

NO_ACCOUNT = "no account connected"
NO_TOKEN = "no token to send with"


class MetaOutput(OutputChannel, abc.ABC):
    """Sends through the Graph API as the shop the conversation belongs to.

    The recipient is Rasa's sender id (``shop:channel:user``), so the same output channel serves
    replies and messages sent later through Rasa's API. Every send is recorded, failed ones with
    Meta's error code, so delivery statuses can be joined to them.
    """

    def __init__(
        self, graph: GraphClient, accounts: AccountDirectory, inbox_id: int | None = None
    ) -> None:
        self._graph = graph
        self._accounts = accounts
        self._inbox_id = inbox_id
        self.sends_attempted = 0

    def for_turn(self, inbox_id: int | None = None) -> MetaOutput:
        """A fresh output channel for one turn, whose ``sends_attempted`` tells if it replied;
        the first reply to the inbox message ``inbox_id`` is marked on it."""
        return type(self)(self._graph, self._accounts, inbox_id)

    @abc.abstractmethod
    def bodies(
        self,
        address: Any,
        text: str,
        buttons: list[dict[str, Any]],
        image_url: str | None,
        custom: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """The Graph API bodies for one response to ``address`` (see ``address_of``);
        ``custom`` is the response's custom payload, which may ask for a platform feature."""

    def address_of(self, shop_id: str, key: str) -> Any:
        """Where the conversation ``shop:channel:key`` is sent to; its key by default. May
        read the database: called off the event loop."""
        return key

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send(recipient_id, text, custom=kwargs.get("custom"))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send(recipient_id, text, buttons)

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send(recipient_id, text, quick_replies)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send(recipient_id, "", image_url=image)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        # Custom payloads are for web clients (and may hold signed forms): never dumped into a chat.
        logger.debug("custom payload not sent to a chat", extra={"keys": sorted(json_message)})

    async def _send(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]] | None = None,
        image_url: str | None = None,
        custom: Any = None,
    ) -> None:
        shop_id, _, user_id = parse_conversation_id(recipient_id)
        account_id = await asyncio.to_thread(self._accounts.account_of, shop_id)
        token = await asyncio.to_thread(self._accounts.token_of, shop_id)
        if not account_id or not token:
            # Trying again cannot help (and would run the turn's actions again): recorded and
            # audited once per turn, shown by `shop show`.
            reason = NO_TOKEN if account_id else NO_ACCOUNT
            logger.error("reply cannot be sent", extra={"shop_id": shop_id, "reason": reason})
            if not self.sends_attempted:
                await asyncio.to_thread(
                    inbox.record_unsendable, shop_id, self.name(), account_id or "", user_id, reason
                )
            self.sends_attempted += 1
            return
        address = await asyncio.to_thread(self.address_of, shop_id, user_id)
        extra = custom if isinstance(custom, dict) else {}
        for body in self.bodies(address, text, list(buttons or []), image_url, extra):
            self.sends_attempted += 1
            _, error = await send_recorded(
                self._graph, shop_id, self.name(), account_id, token, user_id, body
            )
            if self._inbox_id is not None and self.sends_attempted == 1:
                await asyncio.to_thread(inbox.mark_replied, self._inbox_id)
            if error is not None:
                logger.warning(
                    "send failed",
                    extra={
                        "shop_id": shop_id,
                        "channel": self.name(),
                        "recipient": mask_user_id(user_id),
                        "code": error.code,
                        "retryable": error.retryable,
                    },
                )
                return
