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
UNSUPPORTED = "unsupported"


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

    def redacted(self) -> InboundMessage:
        """What is kept once the message was processed: what it was, with its text redacted as
        the conversation history is (codes, tokens, signed URLs, phone numbers), the sender
        masked and no name."""
        return replace(
            self,
            sender=mask_user_id(self.sender),
            sender_name=None,
            text=_redacted(self.text),
            title=_redacted(self.title),
            media=replace(self.media, url=_redacted(self.media.url)) if self.media else None,
        )

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


def _redacted(text: str | None) -> str | None:
    return None if text is None else redact_text(text)


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {field.name for field in fields(cls)}
    return {key: value for key, value in data.items() if key in names}
