"""Small server-rendered pages of the Rasa server (the connect callback, the receipt upload):
plain HTML that works on any phone, never cached, sending no referrer, loading nothing from
anywhere, and access-log lines without the query (which carries one-time codes and tokens)."""

from __future__ import annotations

import base64
import hashlib
import html
import logging

from sanic import response
from sanic.response import HTTPResponse

# Readable on a cheap phone's small screen; inline, allowed by its hash in the CSP.
STYLE = (
    "body{font-family:sans-serif;max-width:32em;margin:1em auto;padding:0 1em;line-height:1.4}"
    "input,button{font-size:1em;margin:.5em 0;display:block}"
    "button{padding:.6em 1.2em}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()


class HideQuery(logging.Filter):
    """Drops the query from Sanic's access-log lines of the routes under ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._marker = f"{path}?"

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if isinstance(request, str) and self._marker in request:
            record.request = request.split("?", 1)[0] + "?[redacted]"
        return True


_HIDDEN: dict[str, HideQuery] = {}


def hide_query_in_access_log(path: str) -> None:
    """Install (once per path) the access log's filter for the routes under ``path``."""
    if path not in _HIDDEN:
        _HIDDEN[path] = HideQuery(path)
        logging.getLogger("sanic.access").addFilter(_HIDDEN[path])


def page(
    status: int, title: str, body_html: str, *, form_action: tuple[str, ...] = ()
) -> HTTPResponse:
    """A page titled ``title``; ``body_html`` must already be escaped. ``form_action``: the
    origins its form may post to, besides its own."""
    document = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · TrustGuard</title><style>{STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body_html}</body></html>\n"
    )
    targets = " ".join(["'self'", *form_action])
    policy = (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
        f"frame-ancestors 'none'; form-action {targets}"
    )
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": policy,
    }
    return response.html(document, status=status, headers=headers)


def message_page(status: int, title: str, message: str) -> HTTPResponse:
    return page(status, title, f"<p>{html.escape(message)}</p>")
