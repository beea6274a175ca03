"""WhatsApp Cloud API webhooks: every message and status of every change of every entry.

Since April 2026 a sender is known by a business-scoped user id (``from_user_id``) and, unless
they chose a username and withheld it, their number (``from``): either may be absent, never
both. Statuses are joined to our sends by message id, whatever recipient fields they carry.
"""

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
    CONTACT,
    DELETED,
    EDITED,
    IDENTITY_CHANGE,
    MEDIA,
    TEXT,
    UNSUPPORTED,
    IdentityChange,
    InboundMessage,
    Media,
    SharedContact,
    StatusUpdate,
    WhatsAppUser,
)
from bot.platform.models import Channel


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
                partial(_whatsapp_message, account_id=account_id, contacts=_contacts(value)),
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
    item: dict[str, Any], account_id: str, contacts: list[dict[str, Any]]
) -> InboundMessage:
    message_type = required(item, "type")
    user = _sender(item)
    contact = _contact_of(user, contacts)
    profile = dict_(contact.get("profile"))
    user = WhatsAppUser(
        wa_id=user.wa_id or _number_or_none(contact.get("wa_id")),
        user_id=user.user_id or _id_or_none(contact.get("user_id")),
        parent_user_id=user.parent_user_id or _id_or_none(contact.get("parent_user_id")),
        username=str_(profile.get("username")),
    )
    content = _whatsapp_content(item, message_type)
    address = user.wa_id or user.user_id
    if not is_id(address, SENDER_ID):
        raise Malformed("from and from_user_id are missing")
    return InboundMessage(
        channel=Channel.WHATSAPP,
        account_id=account_id,
        sender=address,
        message_id=required_id(item, "id"),
        timestamp=epoch_seconds(item.get("timestamp"), per_second=1),
        kind=content.kind,
        original_type=content.original_type,
        text=content.text,
        title=content.title,
        media=content.media,
        sender_name=str_(profile.get("name")),
        whatsapp=user,
        identity_change=_identity_change(item) if message_type == "system" else None,
        contact=_shared_contact(item) if message_type == "contacts" else None,
    )


def _sender(item: dict[str, Any]) -> WhatsAppUser:
    """The sender's ids as the message names them; a ``system`` notice names the user by the
    ids they had before the change."""
    system = dict_(item.get("system")) if item.get("type") == "system" else {}
    return WhatsAppUser(
        wa_id=_number_or_none(item.get("from")),
        user_id=_id_or_none(item.get("from_user_id"))
        or _id_or_none(system.get("previous_user_id")),
        parent_user_id=_id_or_none(item.get("from_parent_user_id")),
    )


def _contact_of(user: WhatsAppUser, contacts: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``contacts`` entry describing this sender, matched by number or user id."""
    for contact in contacts:
        if (user.wa_id and contact.get("wa_id") == user.wa_id) or (
            user.user_id and contact.get("user_id") == user.user_id
        ):
            return contact
    return {}


def _identity_change(item: dict[str, Any]) -> IdentityChange:
    system = dict_(item.get("system"))
    return IdentityChange(
        type=required(system, "type", "system.type"),
        wa_id=_id_or_none(system.get("wa_id")) or _id_or_none(system.get("new_wa_id")),
        user_id=_id_or_none(system.get("user_id")),
        previous_user_id=_id_or_none(system.get("previous_user_id")),
        parent_user_id=_id_or_none(system.get("parent_user_id")),
    )


def _shared_contact(item: dict[str, Any]) -> SharedContact | None:
    """The first phone of the first shared contact that has one."""
    for contact in list_(item.get("contacts")):
        contact = dict_(contact)
        for phone in list_(contact.get("phones")):
            phone = dict_(phone)
            wa_id, number = _id_or_none(phone.get("wa_id")), str_(phone.get("phone"))
            if wa_id or number:
                return SharedContact(wa_id=wa_id, phone=number, origin=str_(contact.get("origin")))
    return None


def _id_or_none(value: Any) -> str | None:
    """An id a conversation may be keyed by, or None (absent, or nothing the inbox could hold)."""
    return value if is_id(value, SENDER_ID) else None


def _number_or_none(value: Any) -> str | None:
    """A WhatsApp number (``from``, ``wa_id``: digits only), or None: anything else there, a
    user id included, would be sent to as a number and reach no one."""
    number = _id_or_none(value)
    return number if number is not None and number.isascii() and number.isdigit() else None


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
    if message_type == "system":
        return Content(IDENTITY_CHANGE, message_type)
    if message_type == "revoke":
        return Content(DELETED, message_type)
    if message_type == "edit":
        return Content(EDITED, message_type)
    if message_type == "contacts":
        return Content(CONTACT, message_type)
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
        recipient=_status_recipient(item),
    )


def _status_recipient(item: dict[str, Any]) -> WhatsAppUser | None:
    """The recipient's number and user id when the status names both, in the fields of the
    status itself or of its ``contacts`` (sent, delivered and read since 2026)."""
    wa_id = _id_or_none(item.get("recipient_id"))
    user_id = _id_or_none(item.get("recipient_user_id"))
    for contact in list_(item.get("contacts")):
        contact = dict_(contact)
        wa_id = wa_id or _id_or_none(contact.get("wa_id"))
        user_id = user_id or _id_or_none(contact.get("user_id"))
    if not (wa_id and user_id):
        return None
    parent = _id_or_none(item.get("recipient_parent_user_id")) or _id_or_none(
        item.get("parent_recipient_user_id")
    )
    return WhatsAppUser(wa_id=wa_id, user_id=user_id, parent_user_id=parent)


def _contacts(value: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [contact for contact in list_(value.get("contacts")) if isinstance(contact, dict)]
