"""One send to Meta as a shop, recorded whatever Meta answers (``inbox.record_send``), so that a
failed send is visible and delivery statuses can be joined to a successful one."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from bot.meta import inbox
from bot.meta.graph import GraphClient, GraphError


async def send_recorded(
    graph: GraphClient,
    shop_id: str,
    channel: str,
    account_id: str,
    token: str,
    recipient: str,
    body: Mapping[str, Any],
) -> tuple[str | None, GraphError | None]:
    """Meta's message id, or the error it answered; either way the send is recorded."""
    message_id: str | None = None
    error: GraphError | None = None
    try:
        message_id = await graph.send_message(account_id, token, body)
    except GraphError as failure:
        error = failure
    await asyncio.to_thread(
        inbox.record_send,
        shop_id,
        channel,
        account_id,
        recipient,
        message_id,
        error.code if error else None,
        error.title if error else None,
    )
    return message_id, error
