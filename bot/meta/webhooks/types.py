"""What a webhook carries once parsed: the messages buyers sent and the statuses of ours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from bot.platform.masking import mask_user_id, redact_text

# What a buyer's message is, to the assistant.
TEXT = "text"
BUTTON = "button"
MEDIA = "media"
CONTACT = "contact"  # a phone number shared in the chat
UNSUPPORTED = "unsupported"
# What WhatsApp reports of a buyer, never answered: a changed number or user id, a deletion, an
# edit of a message already answered.
IDENTITY_CHANGE = "identity_change"
DELETED = "deleted"
EDITED = "edited"
ANSWERED_KINDS = frozenset({TEXT, BUTTON, MEDIA, CONTACT, UNSUPPORTED})


@dataclass(frozen=True)
class Media:
    """An attachment: WhatsApp gives an id to resolve through the Graph API, Instagram a url."""

    id: str | None
    url: str | None
    mime_type: str | None
    sha256: str | None


@dataclass(frozen=True)
class WhatsAppUser:
    """Who wrote on WhatsApp, as Meta shows them: the number (``wa_id``, absent for a user with
    a username who has not shared it), the business-scoped user id (``user_id``, on every
    webhook since April 2026) and its parent, the username (display only, never a key)."""

    wa_id: str | None
    user_id: str | None
    parent_user_id: str | None = None
    username: str | None = None

    def masked(self) -> WhatsAppUser:
        return WhatsAppUser(
            _masked(self.wa_id), _masked(self.user_id), _masked(self.parent_user_id), None
        )


@dataclass(frozen=True)
class IdentityChange:
    """A ``system`` notice: ``user_changed_number`` (new number in ``wa_id``) or
    ``user_changed_user_id``, with the new business-scoped user id and the previous one."""

    type: str
    wa_id: str | None
    user_id: str | None
    previous_user_id: str | None
    parent_user_id: str | None = None

    def masked(self) -> IdentityChange:
        return IdentityChange(
            self.type,
            _masked(self.wa_id),
            _masked(self.user_id),
            _masked(self.previous_user_id),
            _masked(self.parent_user_id),
        )


@dataclass(frozen=True)
class SharedContact:
    """A phone number in a ``contacts`` message. Only ``origin == "contact_request"`` (the
    answer to our request for the buyer's number) proves it is the sender's own."""

    wa_id: str | None
    phone: str | None
    origin: str | None

    @property
    def is_senders_own(self) -> bool:
        return self.origin == "contact_request"

    def masked(self) -> SharedContact:
        return SharedContact(_masked(self.wa_id), _masked(self.phone), self.origin)


@dataclass(frozen=True)
class InboundMessage:
    """One thing a buyer sent, whatever the platform. ``sender`` is the platform's address of
    the sender (WhatsApp: the number, else the business-scoped user id; Instagram: the IGSID)."""

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
    whatsapp: WhatsAppUser | None = None
    identity_change: IdentityChange | None = None
    contact: SharedContact | None = None

    @property
    def answered(self) -> bool:
        """Whether the buyer gets an answer: notices about the buyer never run a turn."""
        return self.kind in ANSWERED_KINDS

    def to_json(self) -> dict[str, Any]:
        """As the inbox stores it."""
        return asdict(self)

    def redacted(self) -> InboundMessage:
        """What is kept once the message was processed: what it was, with its text redacted as
        the conversation history is (codes, tokens, signed URLs, phone numbers), the sender's
        ids masked and no name or username."""
        return replace(
            self,
            sender=mask_user_id(self.sender),
            sender_name=None,
            text=_redacted(self.text),
            title=_redacted(self.title),
            media=replace(self.media, url=_redacted(self.media.url)) if self.media else None,
            whatsapp=self.whatsapp.masked() if self.whatsapp else None,
            identity_change=self.identity_change.masked() if self.identity_change else None,
            contact=self.contact.masked() if self.contact else None,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InboundMessage:
        """Also a row stored by an older release (fields since dropped are ignored, fields since
        added take their defaults), so what was acknowledged before an upgrade is still
        processed after it."""
        parts = {name: _part(kind, data.get(name)) for name, kind in _PARTS.items()}
        return cls(**{**_known(cls, data), **parts})


@dataclass(frozen=True)
class StatusUpdate:
    """What became of a message we sent (sent, delivered, read or failed); never user input."""

    channel: str
    account_id: str
    message_id: str
    status: str
    timestamp: float
    errors: tuple[tuple[int | None, str], ...]
    # Whom it went to, when the status names both ids: Meta shows the pair, which binds them.
    recipient: WhatsAppUser | None = None


def _masked(user_id: str | None) -> str | None:
    return mask_user_id(user_id) if user_id else None


_PARTS: dict[str, type] = {
    "media": Media,
    "whatsapp": WhatsAppUser,
    "identity_change": IdentityChange,
    "contact": SharedContact,
}


def _part(cls: type, data: Any) -> Any:
    return cls(**_known(cls, data)) if isinstance(data, Mapping) else None


def _redacted(text: str | None) -> str | None:
    return None if text is None else redact_text(text)


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {field.name for field in fields(cls)}
    return {key: value for key, value in data.items() if key in names}
