"""Receipts buyers send in the chat: downloaded, checked and stored before the assistant sees them.

The assistant gets an ``upload_receipt`` message naming the stored file, or the problem with it,
so the words buyers read stay in the domain's responses.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from typing import Protocol

from bot.meta.graph import GraphClient, GraphError, MediaUrlRefused
from bot.meta.media_hosts import MediaHosts
from bot.meta.webhooks import Media
from bot.platform.storage import StorageUnavailable
from bot.shop.receipts import (
    CHAT_RECEIPT_TYPES,
    MAX_BYTES,
    sniff_content_type,
    store_chat_receipt,
)

logger = logging.getLogger(__name__)


class TokenSource(Protocol):
    def token_of(self, shop_id: str) -> str | None: ...


def receipt_message(**entities: str) -> str:
    return "/upload_receipt" + json.dumps(entities)


def _checksum_matches(content: bytes, declared: str | None) -> bool:
    """WhatsApp gives the file's SHA-256; a mismatch means a corrupted or swapped download."""
    if not declared:
        return True
    digest = hashlib.sha256(content)
    return (
        declared.lower() == digest.hexdigest()
        or declared == base64.b64encode(digest.digest()).decode()
    )


class ReceiptIntake:
    """WhatsApp: media id → URL → bytes with the shop's token; Instagram: the attachment URL.
    Either URL is fetched only from ``hosts``."""

    def __init__(self, graph: GraphClient, accounts: TokenSource, hosts: MediaHosts) -> None:
        self._graph = graph
        self._accounts = accounts
        self._hosts = hosts

    async def take(self, shop_id: str, inbox_id: int, media: Media) -> str:
        # Instagram's attachment URL is a public CDN link: the shop's token is not sent there.
        token: str | None = None
        if media.id:
            token = await asyncio.to_thread(self._accounts.token_of, shop_id)
        token = token or ""
        try:
            declared = [media.sha256]
            url = media.url
            if media.id:
                info = await self._graph.media_info(media.id, token)
                url = info.get("url")
                declared.append(info.get("sha256"))
            if not url:
                return receipt_message(receipt_problem="unreadable")
            content = await self._graph.download(url, token, MAX_BYTES, self._hosts)
        except MediaUrlRefused as refused:
            logger.warning(
                "receipt url refused: not a media host (META_MEDIA_HOSTS)",
                extra={"shop_id": shop_id, "host": refused.host},
            )
            return receipt_message(receipt_problem="unreadable")
        except GraphError as error:
            too_large = "too large" in error.title.lower()
            logger.warning(
                "receipt download failed",
                extra={"shop_id": shop_id, "code": error.code, "too_large": too_large},
            )
            return receipt_message(receipt_problem="too_large" if too_large else "unreadable")

        content_type = sniff_content_type(content)
        if content_type not in CHAT_RECEIPT_TYPES:
            return receipt_message(receipt_problem="wrong_type")
        if not content or not all(_checksum_matches(content, sha) for sha in declared):
            return receipt_message(receipt_problem="unreadable")
        try:
            # Stored as the sender's and read (OCR) in a worker thread.
            key = await asyncio.to_thread(
                store_chat_receipt, shop_id, inbox_id, content, content_type
            )
        except StorageUnavailable as error:
            logger.warning(
                "receipt could not be stored", extra={"shop_id": shop_id, "reason": str(error)}
            )
            return receipt_message(receipt_problem="storage")
        return receipt_message(receipt_file=key)
