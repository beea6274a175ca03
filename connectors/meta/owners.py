"""A shop owner's WhatsApp messages to their own shop: commands answered here (``bot.shop.
owner_chat``), never a turn of the assistant, replied to through the channel's output so that
the replies are recorded like any other."""

from __future__ import annotations

import asyncio

from bot.meta.inbox import Claimed
from bot.meta.typed import as_typed
from bot.meta.webhooks import BUTTON, TEXT
from bot.platform.db import session_scope
from bot.shop import owner_chat, owners
from bot.shop.shops import conversation_id, get_shop
from connectors.meta.output import MetaOutput


def _reply(shop_id: str, key: str, text: str) -> str | None:
    """The answer to an owner's message, or None when the sender is not an owner."""
    with session_scope() as session:
        shop = get_shop(session, shop_id)
        phone = owners.owner_of(session, shop_id, key) if shop is not None else None
        if shop is None or phone is None:
            return None
        return owner_chat.answer(session, shop, phone, text)


async def answered_owner(claimed: Claimed, output: MetaOutput) -> bool:
    """Answer the message if it is an owner's; False (nothing done) when it is a buyer's."""
    message = claimed.message
    text = as_typed(message.text or "") if message.kind in (TEXT, BUTTON) else ""
    reply = await asyncio.to_thread(_reply, claimed.shop_id, claimed.key, text)
    if reply is None:
        return False
    recipient = conversation_id(claimed.shop_id, output.name(), claimed.key)
    await output.for_turn().send_text_message(recipient, reply)
    return True
