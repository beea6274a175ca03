"""Instagram Messaging webhooks: buyer messages and button taps; echoes of our own sends,
receipts and reactions dropped."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from bot.meta.webhooks.reading import (
    ACCOUNT_ID,
    SENDER_ID,
    Content,
    Malformed,
    dict_,
    epoch_seconds,
    is_id,
    object_,
    objects,
    parse_each,
    required,
    required_id,
    str_,
)
from bot.meta.webhooks.types import (
    BUTTON,
    MEDIA,
    TEXT,
    UNSUPPORTED,
    InboundMessage,
    Media,
    StatusUpdate,
)
from bot.platform.models import Channel

# Read receipts, delivery receipts and reactions are about our messages, never user input.
_IGNORED_EVENTS = ("read", "messaging_seen", "delivery", "reaction")
_MEDIA_ATTACHMENTS = frozenset({"image", "file"})


def parse_instagram(
    payload: Mapping[str, Any],
) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    """Buyer messages and button taps; echoes of our own sends, receipts and reactions dropped.

    The status list is always empty (Instagram read and delivery events are dropped); it is
    returned for symmetry with ``parse_whatsapp``.
    """
    messages: list[InboundMessage] = []
    if not isinstance(payload, Mapping) or payload.get("object") != Channel.INSTAGRAM:
        return messages, []
    for entry in objects(payload, "entry", Channel.INSTAGRAM):
        messages += parse_each(
            objects(entry, "messaging", Channel.INSTAGRAM),
            partial(_instagram_event, entry_id=entry.get("id")),
            Channel.INSTAGRAM,
            "messaging",
        )
    return messages, []


def _instagram_event(item: dict[str, Any], entry_id: Any) -> InboundMessage | None:
    if any(key in item for key in _IGNORED_EVENTS):
        return None
    if "postback" in item:
        postback = object_(item, "postback")
        message_id = required_id(postback, "mid", "postback.mid")
        content = Content(
            BUTTON,
            "postback",
            text=required(postback, "payload", "postback.payload"),
            title=str_(postback.get("title")),
        )
    elif "message" in item:
        message = object_(item, "message")
        # An echo is the shop's own send (answering it, the bot talks to itself); a deletion
        # withdraws a message, it says nothing new.
        if message.get("is_echo") or message.get("is_deleted"):
            return None
        message_id = required_id(message, "mid", "message.mid")
        content = _instagram_content(message)
    else:
        return None
    recipient = dict_(item.get("recipient")).get("id")
    account_id = recipient if is_id(recipient, ACCOUNT_ID) else entry_id
    if not is_id(account_id, ACCOUNT_ID):
        raise Malformed("recipient.id and entry.id are missing")
    return InboundMessage(
        channel=Channel.INSTAGRAM,
        account_id=account_id,
        sender=required_id(dict_(item.get("sender")), "id", "sender.id", SENDER_ID),
        message_id=message_id,
        timestamp=epoch_seconds(item.get("timestamp"), per_second=1000),
        kind=content.kind,
        original_type=content.original_type,
        text=content.text,
        title=content.title,
        media=content.media,
    )


def _instagram_content(message: dict[str, Any]) -> Content:
    text = str_(message.get("text"))
    if "quick_reply" in message:
        payload = required(object_(message, "quick_reply"), "payload", "quick_reply.payload")
        return Content(BUTTON, "quick_reply", text=payload, title=text)
    if "attachments" in message:
        attachments = message.get("attachments")
        first = attachments[0] if isinstance(attachments, list) and attachments else None
        if not isinstance(first, dict):
            raise Malformed("attachments has no attachment object")
        attachment_type = required(first, "type", "attachments[0].type")
        original_type = f"attachment:{attachment_type}"
        if attachment_type not in _MEDIA_ATTACHMENTS:
            return Content(UNSUPPORTED, original_type, text=text)
        url = required(dict_(first.get("payload")), "url", "attachments[0].payload.url")
        media = Media(id=None, url=url, mime_type=None, sha256=None)
        return Content(MEDIA, original_type, text=text, media=media)
    if text is not None:
        return Content(TEXT, "text", text=text)
    return Content(UNSUPPORTED, UNSUPPORTED)
