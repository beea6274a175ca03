"""Keeping secrets and phone numbers out of logs, audit rows and conversation history."""

from __future__ import annotations

import hashlib
import hmac
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

# Where a JWT or a URL could stand: runs that the searches below walk once each. The obvious
# patterns (``eyJ[..]+\.[..]+\.[..]+``, ``https?://[^\s?]+\?\S+``) take quadratic time on
# text such as "eyJeyJeyJ…" or "http://http://…": one message could stall a server for minutes.
_JWT_RUN_RE = re.compile(r"[A-Za-z0-9_.-]+")
_TOKEN_RE = re.compile(r"\S+")
_URL_SCHEME_RE = re.compile(r"https?://")
# A signed upload form or a credential written out as text (a log line of a JSON payload):
# the value after its key. A form's policy is long base64; shorter "policy" values (the Rasa
# policy that predicted an action, "return policy: 7 days") are not secrets.
_KEYED_SECRET_RE = re.compile(
    r"""(?i)(?<![\w-])((?:x-amz-(?:signature|credential|security-token)|signature|access_token"""
    r"""|awsaccesskeyid)\\?["']?\s*[:=]\s*\\?["']?)[^"'\\\s,;&}]+"""
)
_POLICY_RE = re.compile(r"""(?i)(?<![\w-])(policy\\?["']?\s*[:=]\s*\\?["']?)[A-Za-z0-9+/=]{40,}""")
# A shop's API key and webhook signing secret, by the prefixes they are made with
# (bot.shop.api_keys, bot.shop.events): shown once to their owner, never written to a log.
_SHOP_SECRET_RE = re.compile(r"(?<![\w-])(?:tgk|whsec)_[A-Za-z0-9_-]{16,}")
# Anchored at the start of a run, so each run is looked at once: linear.
_OTP_RE = re.compile(OTP_CODE_PATTERN)
_PHONE_RE = re.compile(r"(?<![\w-])\+?\d[\d ]{6,18}(\d{4})(?!\w)")


def mask_user_id(user_id: str) -> str:
    """Only the last 4 characters of a phone number or platform user id are ever shown."""
    user_id = str(user_id or "")
    return "***" + user_id[-4:] if len(user_id) > 4 else "***"


def pseudonym(user_id: str, key: bytes) -> str:
    """A user id where it is kept after its use: masked, and with a keyed digest, so that one
    person's rows can still be matched with each other but the id cannot be read back."""
    digest = hmac.new(key, str(user_id or "").encode(), hashlib.sha256).hexdigest()[:32]
    return f"{mask_user_id(user_id)}:{digest}"


def redact_text(text: str) -> str:
    """Remove one-time codes, tokens, signed URLs and forms, shops' API keys and webhook secrets,
    and phone numbers from free text."""
    # The two searches that call back into Python for each run or word go only over text that
    # can hold what they look for: in ordinary text they were two thirds of the cost.
    if "eyJ" in text:
        text = _JWT_RUN_RE.sub(lambda m: _without_jwts(m.group(0)), text)
    if "://" in text and "?" in text:
        text = _TOKEN_RE.sub(lambda m: _without_signed_query(m.group(0)), text)
    text = _KEYED_SECRET_RE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _POLICY_RE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _SHOP_SECRET_RE.sub(REDACTED, text)
    text = _OTP_RE.sub(REDACTED, text)
    return _PHONE_RE.sub(lambda m: "***" + m.group(1), text)


def _without_jwts(run: str) -> str:
    r"""A run of JWT characters with every ``eyJ….….…`` in it redacted, as the regex
    ``eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`` would, in time linear in the run.

    A match starts at the first ``eyJ`` of a dot-free segment that has a character after it, and
    takes the rest of that segment and the next two, which must not be empty.
    """
    if "eyJ" not in run:
        return run
    segments = run.split(".")
    out: list[str] = []
    index = 0
    while index < len(segments):
        segment = segments[index]
        start = _jwt_start(segment)
        if start is not None and index + 2 < len(segments) and all(segments[index + 1 : index + 3]):
            out.append(segment[:start] + REDACTED)
            index += 3
        else:
            out.append(segment)
            index += 1
    return ".".join(out)


def _jwt_start(segment: str) -> int | None:
    """Where ``eyJ`` and at least one more character start in the segment."""
    start = segment.find("eyJ")
    return start if 0 <= start < len(segment) - 3 else None


def _without_signed_query(token: str) -> str:
    """A whitespace-free token with the query of a URL in it replaced, as
    ``(https?://[^\\s?]+)\\?[^\\s]+`` → ``\1?[redacted]`` would, in time linear in the token."""
    if "?" not in token:
        return token
    position = 0
    while (scheme := _URL_SCHEME_RE.search(token, position)) is not None:
        question = token.find("?", scheme.end())
        if question < 0 or question + 1 == len(token):
            return token  # no query after this URL, nor after any later one
        if question > scheme.end():
            return f"{token[:question]}?{REDACTED}"
        # "http://?": a later URL can only start after this "?".
        position = question + 1
    return token


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
