"""WhatsApp Cloud API webhooks: every message and status of every change of every entry."""

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
    int_,
    is_id,
    list_,
    objects,
    parse_each,
    required,
    required_id,
    str_,
    warn,
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

# WhatsApp's notices about the buyer (a changed number) and the deletion of a message: neither is
# something the buyer said, so neither is answered.
_NOTICES = frozenset({"system", "revoke"})


def parse_whatsapp(
    payload: Mapping[str, Any],
) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    """Every message and status of every change of every entry: one POST may batch many."""
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    if not isinstance(payload, Mapping) or payload.get("object") != "whatsapp_business_account":
        return messages, statuses
    for entry in objects(payload, "entry", Channel.WHATSAPP):
        for change in objects(entry, "changes", Channel.WHATSAPP):
            if change.get("field") != "messages":
                continue
            value = dict_(change.get("value"))
            account_id = dict_(value.get("metadata")).get("phone_number_id")
            if not is_id(account_id, ACCOUNT_ID):
                warn(
                    Channel.WHATSAPP,
                    "changes",
                    "value.metadata.phone_number_id is missing or not an id",
                )
                continue
            messages += parse_each(
                objects(value, "messages", Channel.WHATSAPP),
                partial(_whatsapp_message, account_id=account_id, names=_contact_names(value)),
                Channel.WHATSAPP,
                "messages",
            )
            statuses += parse_each(
                objects(value, "statuses", Channel.WHATSAPP),
                partial(_whatsapp_status, account_id=account_id),
                Channel.WHATSAPP,
                "statuses",
            )
    return messages, statuses


def _whatsapp_message(
    item: dict[str, Any], account_id: str, names: Mapping[str, str]
) -> InboundMessage | None:
    message_type = required(item, "type")
    if message_type in _NOTICES:
        return None
    sender = required_id(item, "from", max_length=SENDER_ID)
    content = _whatsapp_content(item, message_type)
    return InboundMessage(
        channel=Channel.WHATSAPP,
        account_id=account_id,
        sender=sender,
        message_id=required_id(item, "id"),
        timestamp=epoch_seconds(item.get("timestamp"), per_second=1),
        kind=content.kind,
        original_type=content.original_type,
        text=content.text,
        title=content.title,
        media=content.media,
        sender_name=names.get(sender),
    )


def _whatsapp_content(item: dict[str, Any], message_type: str) -> Content:
    if message_type == "text":
        return Content(
            TEXT, message_type, text=required(dict_(item.get("text")), "body", "text.body")
        )
    if message_type == "interactive":
        interactive = dict_(item.get("interactive"))
        reply_type = interactive.get("type")
        if reply_type not in ("button_reply", "list_reply"):
            return Content(UNSUPPORTED, message_type)
        reply = dict_(interactive.get(reply_type))
        return Content(
            BUTTON,
            message_type,
            text=required(reply, "id", f"interactive.{reply_type}.id"),
            title=str_(reply.get("title")),
        )
    if message_type == "button":
        button = dict_(item.get("button"))
        title = str_(button.get("text"))
        # A template button without a developer payload reports its label as the payload.
        payload = str_(button.get("payload")) or title
        if not payload:
            raise Malformed("button.payload is missing")
        return Content(BUTTON, message_type, text=payload, title=title)
    if message_type in ("image", "document"):
        attachment = dict_(item.get(message_type))
        caption = str_(attachment.get("caption"))
        media = Media(
            id=required_id(attachment, "id", f"{message_type}.id"),
            url=None,
            mime_type=str_(attachment.get("mime_type")),
            sha256=str_(attachment.get("sha256")),
        )
        return Content(MEDIA, message_type, text=caption, media=media)
    return Content(UNSUPPORTED, message_type)


def _whatsapp_status(item: dict[str, Any], account_id: str) -> StatusUpdate:
    errors = tuple(
        (int_(error.get("code")), str_(error.get("title")) or str_(error.get("message")) or "")
        for error in list_(item.get("errors"))
        if isinstance(error, dict)
    )
    return StatusUpdate(
        channel=Channel.WHATSAPP,
        account_id=account_id,
        message_id=required_id(item, "id"),
        status=required(item, "status"),
        timestamp=epoch_seconds(item.get("timestamp"), per_second=1),
        errors=errors,
    )


def _contact_names(value: Mapping[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in list_(value.get("contacts")):
        wa_id = str_(dict_(contact).get("wa_id"))
        name = str_(dict_(dict_(contact).get("profile")).get("name"))
        if wa_id and name:
            names[wa_id] = name
    return names
