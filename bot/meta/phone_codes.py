"""One-time codes sent to a phone number, to prove the number is the buyer's.

The code goes from the shop's WhatsApp number as the shop's approved authentication template:
Meta delivers codes to a number only that way, and never to a business-scoped user id (131062).
The buyer types it back in the chat where they asked, whatever channel that is.
"""

from __future__ import annotations

import asyncio
import logging

from bot.meta.accounts import AccountDirectory
from bot.meta.graph import GraphClient
from bot.meta.outbound import whatsapp_authentication_template
from bot.meta.sends import send_recorded
from bot.platform.masking import mask_user_id
from bot.platform.models import Channel
from bot.platform.phones import wa_id_of_phone
from bot.platform.settings import get_settings
from bot.shop.profile import CodeTemplate

logger = logging.getLogger(__name__)


class CodeNotSent(Exception):
    """Meta did not take the code; the message says why, without the code or the number."""


async def send_code_to_phone(shop_id: str, phone: str, code: str, template: CodeTemplate) -> None:
    """Send ``code`` to ``phone`` (E.164) as the shop; the send is recorded like any other, so
    its delivery status is joined to it. Raises CodeNotSent."""
    accounts = AccountDirectory(Channel.WHATSAPP)
    account_id = await asyncio.to_thread(accounts.account_of, shop_id)
    token = await asyncio.to_thread(accounts.token_of, shop_id)
    if not account_id or not token:
        raise CodeNotSent("the shop has no WhatsApp number to send from")
    settings = get_settings()
    graph = GraphClient(settings.graph_api_url, settings.graph_api_version)
    to = wa_id_of_phone(phone)
    body = whatsapp_authentication_template(to, template.name, template.language, code)
    try:
        _, error = await send_recorded(
            graph, shop_id, Channel.WHATSAPP, account_id, token, to, body
        )
    finally:
        await graph.close()
    if error is not None:
        logger.warning(
            "code not sent to phone",
            extra={"shop_id": shop_id, "recipient": mask_user_id(to), "code": error.code},
        )
        raise CodeNotSent(f"Meta refused the code (error {error.code})")
