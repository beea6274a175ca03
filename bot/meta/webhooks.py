"""Typed views of Meta's webhook payloads, so the channels never index raw JSON.

Parsing is total: any JSON value gives two lists, never an exception, because an exception in a
webhook handler becomes a 5xx and Meta then redelivers the same payload for days. A malformed
piece is skipped with one warning that says what was skipped and why, never who sent it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from functools import partial
from typing import Any, NamedTuple, TypeGuard, TypeVar

from bot.platform.models import Channel

logger = logging.getLogger(__name__)

TEXT = "text"
BUTTON = "button"
MEDIA = "media"
UNSUPPORTED = "unsupported"

# Read receipts, delivery receipts and reactions are about our messages, never user input.
_INSTAGRAM_IGNORED_EVENTS = ("read", "messaging_seen", "delivery", "reaction")
_INSTAGRAM_MEDIA_ATTACHMENTS = frozenset({"image", "file"})
_DIGITS = re.compile(r"[0-9]{1,16}")

T = TypeVar("T")


@dataclass(frozen=True)
class Media:
    """An attachment: WhatsApp gives an id to resolve through the Graph API, Instagram a url."""

    id: str | None
    url: str | None
    mime_type: str | None
    sha256: str | None


@dataclass(frozen=True)
class InboundMessage:
    """One thing a buyer sent, whatever the platform."""

    channel: str
    account_id: str
    sender: str
    message_id: str
    timestamp: float
    kind: str
    original_type: str
    text: str | None = None
    title: str | None = None
    media: Media | None = None
    sender_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As the inbox stores it."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InboundMessage:
        """Also a row stored by an older release (fields since dropped are ignored), so what was
        acknowledged before an upgrade is still processed after it."""
        media = data.get("media")
        return cls(
            **{**_known(cls, data), "media": Media(**_known(Media, media)) if media else None}
        )


@dataclass(frozen=True)
class StatusUpdate:
    """What became of a message we sent (sent, delivered, read or failed); never user input."""

    channel: str
    account_id: str
    message_id: str
    status: str
    timestamp: float
    errors: tuple[tuple[int | None, str], ...]


class _Malformed(Exception):
    """A required field is missing or of the wrong type; the reason must hold no user data."""


class _Content(NamedTuple):
    kind: str
    original_type: str
    text: str | None = None
    title: str | None = None
    media: Media | None = None


def parse_whatsapp(
    payload: Mapping[str, Any],
) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    """Every message and status of every change of every entry: one POST may batch many."""
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    if not isinstance(payload, Mapping) or payload.get("object") != "whatsapp_business_account":
        return messages, statuses
    for entry in _objects(payload, "entry", Channel.WHATSAPP):
        for change in _objects(entry, "changes", Channel.WHATSAPP):
            if change.get("field") != "messages":
                continue
            value = _dict(change.get("value"))
            account_id = _dict(value.get("metadata")).get("phone_number_id")
            if not _is_id(account_id):
                _warn(Channel.WHATSAPP, "changes", "value.metadata.phone_number_id is missing")
                continue
            messages += _parse_each(
                _objects(value, "messages", Channel.WHATSAPP),
                partial(_whatsapp_message, account_id=account_id, names=_contact_names(value)),
                Channel.WHATSAPP,
                "messages",
            )
            statuses += _parse_each(
                _objects(value, "statuses", Channel.WHATSAPP),
                partial(_whatsapp_status, account_id=account_id),
                Channel.WHATSAPP,
                "statuses",
            )
    return messages, statuses


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
    for entry in _objects(payload, "entry", Channel.INSTAGRAM):
        messages += _parse_each(
            _objects(entry, "messaging", Channel.INSTAGRAM),
            partial(_instagram_event, entry_id=entry.get("id")),
            Channel.INSTAGRAM,
            "messaging",
        )
    return messages, []


def _whatsapp_message(
    item: dict[str, Any], account_id: str, names: Mapping[str, str]
) -> InboundMessage:
    sender = _required(item, "from")
    content = _whatsapp_content(item, _required(item, "type"))
    return InboundMessage(
        channel=Channel.WHATSAPP,
        account_id=account_id,
        sender=sender,
        message_id=_required(item, "id"),
        timestamp=_epoch_seconds(item.get("timestamp"), per_second=1),
        kind=content.kind,
        original_type=content.original_type,
        text=content.text,
        title=content.title,
        media=content.media,
        sender_name=names.get(sender),
    )


def _whatsapp_content(item: dict[str, Any], message_type: str) -> _Content:
    if message_type == "text":
        return _Content(
            TEXT, message_type, text=_required(_dict(item.get("text")), "body", "text.body")
        )
    if message_type == "interactive":
        interactive = _dict(item.get("interactive"))
        reply_type = interactive.get("type")
        if reply_type not in ("button_reply", "list_reply"):
            return _Content(UNSUPPORTED, message_type)
        reply = _dict(interactive.get(reply_type))
        return _Content(
            BUTTON,
            message_type,
            text=_required(reply, "id", f"interactive.{reply_type}.id"),
            title=_str(reply.get("title")),
        )
    if message_type == "button":
        button = _dict(item.get("button"))
        title = _str(button.get("text"))
        # A template button without a developer payload reports its label as the payload.
        payload = _str(button.get("payload")) or title
        if not payload:
            raise _Malformed("button.payload is missing")
        return _Content(BUTTON, message_type, text=payload, title=title)
    if message_type in ("image", "document"):
        attachment = _dict(item.get(message_type))
        caption = _str(attachment.get("caption"))
        media = Media(
            id=_required(attachment, "id", f"{message_type}.id"),
            url=None,
            mime_type=_str(attachment.get("mime_type")),
            sha256=_str(attachment.get("sha256")),
        )
        return _Content(MEDIA, message_type, text=caption, media=media)
    return _Content(UNSUPPORTED, message_type)


def _whatsapp_status(item: dict[str, Any], account_id: str) -> StatusUpdate:
    errors = tuple(
        (_int(error.get("code")), _str(error.get("title")) or _str(error.get("message")) or "")
        for error in _list(item.get("errors"))
        if isinstance(error, dict)
    )
    return StatusUpdate(
        channel=Channel.WHATSAPP,
        account_id=account_id,
        message_id=_required(item, "id"),
        status=_required(item, "status"),
        timestamp=_epoch_seconds(item.get("timestamp"), per_second=1),
        errors=errors,
    )


def _instagram_event(item: dict[str, Any], entry_id: Any) -> InboundMessage | None:
    if any(key in item for key in _INSTAGRAM_IGNORED_EVENTS):
        return None
    if "postback" in item:
        postback = _object(item, "postback")
        message_id = _required(postback, "mid", "postback.mid")
        content = _Content(
            BUTTON,
            "postback",
            text=_required(postback, "payload", "postback.payload"),
            title=_str(postback.get("title")),
        )
    elif "message" in item:
        message = _object(item, "message")
        # An echo is the shop's own send (answering it, the bot talks to itself); a deletion
        # withdraws a message, it says nothing new.
        if message.get("is_echo") or message.get("is_deleted"):
            return None
        message_id = _required(message, "mid", "message.mid")
        content = _instagram_content(message)
    else:
        return None
    recipient = _dict(item.get("recipient")).get("id")
    account_id = recipient if _is_id(recipient) else entry_id
    if not _is_id(account_id):
        raise _Malformed("recipient.id and entry.id are missing")
    return InboundMessage(
        channel=Channel.INSTAGRAM,
        account_id=account_id,
        sender=_required(_dict(item.get("sender")), "id", "sender.id"),
        message_id=message_id,
        timestamp=_epoch_seconds(item.get("timestamp"), per_second=1000),
        kind=content.kind,
        original_type=content.original_type,
        text=content.text,
        title=content.title,
        media=content.media,
    )


def _instagram_content(message: dict[str, Any]) -> _Content:
    text = _str(message.get("text"))
    if "quick_reply" in message:
        payload = _required(_object(message, "quick_reply"), "payload", "quick_reply.payload")
        return _Content(BUTTON, "quick_reply", text=payload, title=text)
    if "attachments" in message:
        attachments = message.get("attachments")
        first = attachments[0] if isinstance(attachments, list) and attachments else None
        if not isinstance(first, dict):
            raise _Malformed("attachments has no attachment object")
        attachment_type = _required(first, "type", "attachments[0].type")
        original_type = f"attachment:{attachment_type}"
        if attachment_type not in _INSTAGRAM_MEDIA_ATTACHMENTS:
            return _Content(UNSUPPORTED, original_type, text=text)
        url = _required(_dict(first.get("payload")), "url", "attachments[0].payload.url")
        media = Media(id=None, url=url, mime_type=None, sha256=None)
        return _Content(MEDIA, original_type, text=text, media=media)
    if text is not None:
        return _Content(TEXT, "text", text=text)
    return _Content(UNSUPPORTED, UNSUPPORTED)


def _parse_each(
    items: Iterator[dict[str, Any]],
    parse: Callable[[dict[str, Any]], T | None],
    channel: str,
    what: str,
) -> list[T]:
    parsed: list[T] = []
    for item in items:
        try:
            result = parse(item)
        except _Malformed as error:
            _warn(channel, what, str(error))
            continue
        if result is not None:
            parsed.append(result)
    return parsed


def _objects(container: Mapping[str, Any], key: str, channel: str) -> Iterator[dict[str, Any]]:
    """The object items of ``container[key]``; an absent key is simply nothing to do."""
    items = container.get(key)
    if items is None:
        return
    if not isinstance(items, list):
        _warn(channel, key, "not a list")
        return
    for item in items:
        if isinstance(item, dict):
            yield item
        else:
            _warn(channel, key, "item is not an object")


def _contact_names(value: Mapping[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in _list(value.get("contacts")):
        wa_id = _str(_dict(contact).get("wa_id"))
        name = _str(_dict(_dict(contact).get("profile")).get("name"))
        if wa_id and name:
            names[wa_id] = name
    return names


def _epoch_seconds(value: Any, *, per_second: int) -> float:
    """WhatsApp sends whole seconds as a string, Instagram milliseconds as a number."""
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    # The range test also rejects NaN and infinities, and ints too large for a float.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e16:
        raise _Malformed("timestamp is missing or invalid")
    return value / per_second


def _warn(channel: str, what: str, reason: str) -> None:
    logger.warning(
        "skipped part of a webhook payload",
        extra={"channel": channel, "skipped": what, "reason": reason},
    )


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {field.name for field in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def _required(mapping: Mapping[str, Any], key: str, name: str | None = None) -> str:
    value = mapping.get(key)
    if not _is_id(value):
        raise _Malformed(f"{name or key} is missing")
    return value


def _object(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = mapping.get(key)
    if not isinstance(value, dict):
        raise _Malformed(f"{key} is not an object")
    return value


def _is_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
