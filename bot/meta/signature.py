"""Is a webhook Meta's? ``X-Hub-Signature-256`` checked over the raw body in constant time.

Pure: the channels, the Graph double, the chat tool and the benchmarks all use it without
loading Rasa."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

_SIGNATURE_RE = re.compile(r"sha256=([0-9a-f]{64})")


def signature_is_valid(app_secrets: Sequence[str], body: bytes, header: str | None) -> bool:
    """``sha256=<64 hex>`` over the raw body under any of the app secrets (the previous one stays
    valid while a rotation lasts), compared in constant time."""
    if isinstance(app_secrets, str):
        raise TypeError("app_secrets is a list of secrets, not one string")
    match = _SIGNATURE_RE.fullmatch(header or "")
    if match is None:
        return False
    valid = False
    for secret in filter(None, app_secrets):
        valid |= hmac.compare_digest(signature_header(secret, body), match.group(0))
    return valid


def signature_header(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with ``body``: what the Graph double, the
    chat tool, the benchmarks and the tests sign their webhooks with."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
