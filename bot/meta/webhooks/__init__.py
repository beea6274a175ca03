"""Typed views of Meta's webhook payloads, so the channels never index raw JSON.

Parsing is total: any JSON value gives two lists, never an exception, because an exception in a
webhook handler becomes a 5xx and Meta then redelivers the same payload for days. A malformed
piece is skipped with one warning that says what was skipped and why, never who sent it.
``types`` holds what parsing gives, ``reading`` the careful JSON readers, and ``whatsapp`` and
``instagram`` one parser per platform.
"""

from bot.meta.webhooks.instagram import parse_instagram
from bot.meta.webhooks.types import (
    BUTTON,
    CONTACT,
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
from bot.meta.webhooks.whatsapp import parse_whatsapp

__all__ = [
    "BUTTON",
    "CONTACT",
    "IDENTITY_CHANGE",
    "MEDIA",
    "TEXT",
    "UNSUPPORTED",
    "IdentityChange",
    "InboundMessage",
    "Media",
    "SharedContact",
    "StatusUpdate",
    "WhatsAppUser",
    "parse_instagram",
    "parse_whatsapp",
]
