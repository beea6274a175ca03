"""What a webhook carries once parsed: the messages buyers sent and the statuses of ours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

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


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {field.name for field in fields(cls)}
    return {key: value for key, value in data.items() if key in names}
