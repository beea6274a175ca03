"""The messaging side of the double: ``POST /{version}/{account_id}/messages`` answered the way
Meta answers WhatsApp and Instagram sends (or failed on demand), every send recorded and shown
at ``GET /__sent``, and media registered for the channels to look up and download (each download
recorded), at the double's own URLs or at any URL a test names, and ``GET /__redirect?to=<url>``
to send a download elsewhere.

WhatsApp sends are addressed as at Meta since 2026: by number in ``to`` or by business-scoped
user id (BSUID) in ``recipient``. A BSUID put in ``to`` is accepted and recorded as not
delivered, and an authentication template sent to a BSUID is refused with 131062, so the
assistant's mistakes show here as they would in production."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from devtools.graph_double.core import (
    DoubleState,
    Record,
    bearer_token,
    error_message,
    invalid,
    meta_error,
    not_found,
    unauthorized,
)


@dataclass(frozen=True)
class _Media:
    content: bytes
    mime_type: str
    public: bool
    # What the media lookup answers as its url, when not the double's own /__media/{id}.
    url: str | None = None


# A business-scoped user id: ISO country code, a dot, ``ENT.`` for a parent id, 1-128 letters
# and digits (``NG.8462019375510``).
_BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")
# An authentication template carries its code in a button of one of these kinds.
_CODE_BUTTONS = ("url", "copy_code")
_BSUID_NOT_SUPPORTED = 131062


def is_bsuid(value: object) -> bool:
    """Whether ``value`` is a business-scoped user id (and so not a number)."""
    return isinstance(value, str) and _BSUID.fullmatch(value) is not None


def recipient_of(body: dict[str, Any]) -> str | None:
    """Whom a send reaches: the WhatsApp ``to`` (which wins over ``recipient`` when both are
    given, as at Meta) or ``recipient`` user id, or the Instagram ``recipient.id``. None for a
    user id in ``to``: Meta accepts it there and delivers it to no one."""
    recipient = body.get("recipient")
    if isinstance(recipient, dict):
        return str(recipient.get("id", "")) or None
    to = body.get("to")
    if to:
        return None if is_bsuid(to) else str(to)
    return recipient if is_bsuid(recipient) else None


def describe(body: dict[str, Any]) -> str:
    """A one-line summary of a send body: its text when it has one, otherwise its type."""
    if "sender_action" in body:
        return f"[{body['sender_action']}]"
    if body.get("status") == "read":
        return "[read]"
    message = body.get("message")
    if isinstance(message, dict):
        text = message.get("text")
        return str(text) if text else "[attachment]"
    kind = str(body.get("type", "text"))
    content = _dict(body.get(kind))
    text = content.get("body") if kind == "text" else None
    if kind == "interactive":
        text = _dict(content.get("body")).get("text")
    if kind == "template" and content.get("name"):
        return f"[template {content['name']}]"
    return str(text) if text else f"[{kind}]"


def _dict(value: Any) -> dict[str, Any]:
    """A send body's part when it is an object; anything else reads as empty, never raises."""
    return value if isinstance(value, dict) else {}


def _base_url(request: web.Request) -> str:
    """This double's address as the client reached it. Not ``request.url``: aiohttp 3.9.5 with
    the installed yarl rejects a Host header that carries a port."""
    return f"{request.scheme}://{request.host}"


def _answer(body: dict[str, Any]) -> dict[str, Any] | None:
    """Meta's success answer for a send body, or None when the body is neither platform's."""
    if body.get("messaging_product") == "whatsapp":
        if body.get("status") == "read":
            return {"success": True}
        to, recipient = body.get("to"), body.get("recipient")
        if to:
            contact = {"input": to, "wa_id": to}
        elif is_bsuid(recipient):
            contact = {"input": recipient, "user_id": recipient}
        else:
            return None
        message_id = "wamid." + secrets.token_urlsafe(24)
        return {
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{"id": message_id}],
        }
    recipient_id = recipient_of(body)
    if "recipient" not in body or not recipient_id:
        return None
    if "sender_action" in body:
        return {"recipient_id": recipient_id}
    return {"recipient_id": recipient_id, "message_id": "mid." + secrets.token_urlsafe(24)}


def _answered_id(answer: dict[str, Any]) -> str | None:
    if "messages" in answer:
        return answer["messages"][0]["id"]
    return answer.get("message_id")


def _delivered(body: dict[str, Any]) -> bool:
    """Whether an accepted send reaches anyone: not when a user id stands in ``to``."""
    return not is_bsuid(body.get("to"))


def _code_to_user_id(body: dict[str, Any]) -> bool:
    """Whether the body is an authentication template (a code in a URL or copy-code button)
    addressed by user id, which Meta refuses: a code needs the phone number."""
    if body.get("to") or body.get("type") != "template":
        return False
    components = _dict(body.get("template")).get("components")
    return isinstance(components, list) and any(
        _dict(part).get("type") == "button" and _dict(part).get("sub_type") in _CODE_BUTTONS
        for part in components
    )


class Messaging(DoubleState):
    """Sends, their log and media; ``on_send`` (set by the double) sees each recorded send."""

    def __init__(self) -> None:
        super().__init__()
        self._on_send: Callable[[Record], None] | None = None
        self._sent: list[Record] = []
        self._media: dict[str, _Media] = {}
        self._downloads: list[Record] = []

    @property
    def sent(self) -> list[Record]:
        """A copy of every recorded send, oldest first."""
        with self._changed:
            return copy.deepcopy(self._sent)

    @property
    def downloads(self) -> list[Record]:
        """A copy of every media download asked of the double, oldest first: the media id,
        whether it was the public file, and the last 4 characters of the token (or None)."""
        with self._changed:
            return copy.deepcopy(self._downloads)

    def add_media(
        self,
        content: bytes,
        mime_type: str,
        media_id: str | None = None,
        public: bool = False,
        url: str | None = None,
    ) -> str:
        """Register media for download; public media is also served token-free from /__files.
        With ``url``, the media lookup answers with it instead of the double's own URL."""
        media_id = media_id or str(10**15 + secrets.randbelow(9 * 10**15))
        with self._changed:
            self._media[media_id] = _Media(content, mime_type, public, url)
        return media_id

    def wait_for_sends(self, count: int, timeout: float) -> list[Record]:
        """Block until at least ``count`` sends are recorded; call it from another thread than
        the double's event loop, which it would otherwise stall."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._sent) >= count, timeout):
                raise TimeoutError(f"expected {count} sends, got {len(self._sent)}")
            return copy.deepcopy(self._sent)

    def clear(self) -> None:
        """Forget sends and media, as well as what the other parts remember."""
        super().clear()
        with self._changed:
            self._sent.clear()
            self._media.clear()
            self._downloads.clear()

    def _record(self, record: Record) -> None:
        with self._changed:
            record["index"] = len(self._sent)
            self._sent.append(record)
            self._changed.notify_all()
        if self._on_send is not None:
            self._on_send(copy.deepcopy(record))

    def _media_of(self, request: web.Request, public: bool = False) -> _Media | web.Response:
        """The media ``{media_id}`` names, or Meta's refusal: without a token (unless it is to be
        served publicly), unknown, or private where public media was asked for."""
        media_id = request.match_info["media_id"]
        if not public and bearer_token(request) is None:
            return unauthorized()
        with self._changed:
            media = self._media.get(media_id)
        if media is None or (public and not media.public):
            return not_found(media_id)
        return media

    async def _handle_send(self, request: web.Request) -> web.Response:
        token = bearer_token(request)
        if token is None:
            return unauthorized()
        try:
            body = await request.json()
        except ValueError:
            return invalid("The request body is not valid JSON")
        answer = _answer(body) if isinstance(body, dict) else None
        if answer is None:
            return invalid(
                "The parameter to or recipient (a user id) is required (WhatsApp), or "
                "recipient.id (Instagram)"
            )
        account_id = request.match_info["account_id"]
        record: Record = {
            "account_id": account_id,
            "version": request.match_info["version"],
            "token": "…" + token[-4:],
            "body": body,
            "received_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        }
        # This refusal follows from the body alone: it leaves queued failures for the next send.
        if _code_to_user_id(body):
            message = error_message(_BSUID_NOT_SUPPORTED)
            return self._refuse(record, _BSUID_NOT_SUPPORTED, 400, message)
        failure = self._take_failure(account_id)
        if failure is not None:
            return self._refuse(record, failure.code, failure.http_status, failure.message)
        self._record(
            {
                **record,
                "id": _answered_id(answer),
                "status": 200,
                "error": None,
                "delivered": _delivered(body),
            }
        )
        return web.json_response(answer)

    def _refuse(self, record: Record, code: int, http_status: int, message: str) -> web.Response:
        """Record a send as failed and answer with Meta's error envelope."""
        error = meta_error(message, code, error_subcode=None)
        self._record({**record, "id": None, "status": http_status, "delivered": False, **error})
        return web.json_response(error, status=http_status)

    async def _handle_list_sent(self, request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            since = -1
        if since < 0:
            return invalid("since must be a non-negative integer")
        # ``to`` may be repeated: a WhatsApp user is reached by number and by user id alike.
        wanted = set(request.query.getall("to", []))
        records = [
            record
            for record in self.sent[since:]
            if not wanted or recipient_of(record["body"]) in wanted
        ]
        return web.json_response(records)

    async def _handle_clear(self, request: web.Request) -> web.Response:
        self.clear()
        return web.Response(status=204)

    async def _handle_fail(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            self.fail_next(
                code=int(spec["code"]),
                http_status=int(spec.get("http_status", 400)),
                times=int(spec.get("times", 1)),
                account_id=spec.get("account_id"),
                message=spec.get("message"),
            )
        except (ValueError, KeyError, TypeError) as error:
            return invalid(f"Invalid failure: {error}")
        return web.json_response({"queued": True})

    async def _handle_add_media(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            # binascii.Error, for content that is not base64, is a ValueError.
            content = base64.b64decode(spec["content_b64"], validate=True)
            mime_type = str(spec["mime_type"])
        except (ValueError, KeyError, TypeError) as error:
            return invalid(f"Invalid media: {error}")
        public = bool(spec.get("public", False))
        media_id = self.add_media(content, mime_type, spec.get("id"), public, spec.get("url"))
        answer = {"id": media_id}
        if public:
            answer["url"] = f"{_base_url(request)}/__files/{media_id}"
        return web.json_response(answer)

    async def _handle_media_info(self, request: web.Request) -> web.Response:
        media = self._media_of(request)
        if isinstance(media, web.Response):
            return media
        media_id = request.match_info["media_id"]
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": media.url or f"{_base_url(request)}/__media/{media_id}",
                "mime_type": media.mime_type,
                "sha256": hashlib.sha256(media.content).hexdigest(),
                "file_size": len(media.content),
                "id": media_id,
            }
        )

    async def _handle_media_bytes(self, request: web.Request) -> web.Response:
        return self._download(request, public=False)

    async def _handle_public_file(self, request: web.Request) -> web.Response:
        return self._download(request, public=True)

    async def _handle_redirect(self, request: web.Request) -> web.Response:
        """A 302 to the ``to`` query parameter, as a CDN may answer a media URL."""
        target = request.query.get("to")
        if not target:
            return invalid("to is required")
        raise web.HTTPFound(location=target)

    def _download(self, request: web.Request, public: bool) -> web.Response:
        token = bearer_token(request)
        with self._changed:
            self._downloads.append(
                {
                    "media_id": request.match_info["media_id"],
                    "public": public,
                    "token": "…" + token[-4:] if token else None,
                }
            )
        media = self._media_of(request, public)
        if isinstance(media, web.Response):
            return media
        return web.Response(body=media.content, content_type=media.mime_type)
