"""Keeping secrets and phone numbers out of logs, audit rows and conversation history."""

from __future__ import annotations

import re
from typing import Any

from bot.platform.patterns import OTP_CODE_PATTERN

REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {
        "fields",
        "policy",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
        "token",
        "access_token",
    }
)

_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_SIGNED_QUERY_RE = re.compile(r"(https?://[^\s?]+)\?[^\s]+")
_OTP_RE = re.compile(OTP_CODE_PATTERN)
_PHONE_RE = re.compile(r"(?<![\w-])\+?\d[\d ]{6,18}(\d{4})(?!\w)")


def mask_user_id(user_id: str) -> str:
    """Only the last 4 characters of a phone number or platform user id are ever shown."""
    user_id = str(user_id or "")
    return "***" + user_id[-4:] if len(user_id) > 4 else "***"


def redact_text(text: str) -> str:
    """Remove one-time codes, tokens, signed URLs and phone numbers from free text."""
    text = _JWT_RE.sub(REDACTED, text)
    text = _SIGNED_QUERY_RE.sub(lambda m: f"{m.group(1)}?{REDACTED}", text)
    text = _OTP_RE.sub(REDACTED, text)
    return _PHONE_RE.sub(lambda m: "***" + m.group(1), text)


def redact(value: Any) -> Any:
    """``redact_text`` applied through dicts and lists; values of sensitive keys are dropped."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            key: REDACTED if str(key).lower() in SENSITIVE_KEYS else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value
