"""A stand-in for Meta's Graph API, served over real HTTP, that records every send.

Tests and developers point the WhatsApp and Instagram channels at it instead of
graph.facebook.com: sends are answered the way Meta answers them, failures can be queued on
demand, media can be registered for download, and ``GET /__sent`` shows what the assistant said.
It also plays the OAuth side of connecting a shop: authorization codes registered with
``add_oauth_code`` are exchanged for tokens, which ``debug_token``, ``/{waba}/phone_numbers`` and
``/me`` then describe; those calls are recorded in ``oauth_calls``, without codes or tokens. A
code for an Instagram account alone is an Instagram Login code: it is exchanged the way
api.instagram.com (``POST /oauth/access_token``, form-encoded) and graph.instagram.com
(``GET /access_token?grant_type=ig_exchange_token``) do it, and nowhere else, so one double
plays graph.facebook.com and both Instagram hosts. Long-lived Instagram tokens are refreshed at
``GET /refresh_access_token?grant_type=ig_refresh_token``; ``fail_next`` with the account id (or
none) makes the next refresh fail instead.

Run it with ``python -m devtools.graph_double [--host 127.0.0.1] [--port 8900]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import copy
import datetime as dt
import hashlib
import hmac
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from aiohttp import web

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8900

Record = dict[str, Any]

# Meta's wording for the failures tests queue most often; any other code gets a generic message.
_ERROR_MESSAGES = {
    4: "(#4) Application request limit reached",
    190: "Error validating access token: Session has expired.",
    131026: "(#131026) Message undeliverable",
    131047: "(#131047) Re-engagement message",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
    130429: "(#130429) Rate limit hit",
}


@dataclass
class _Failure:
    code: int
    http_status: int
    remaining: int
    account_id: str | None
    message: str


@dataclass(frozen=True)
class _Grant:
    """What the shop owner shared in the dialog, as the tokens issued for it will show."""

    waba_id: str | None
    phone_number_id: str | None
    ig_user_id: str | None
    long_lived: bool = False


# Meta's answer for both the code exchange and the long-lived exchange (about 60 days).
TOKEN_EXPIRES_IN = 5183944
FACEBOOK_USER_ID = "100000000000001"
# What the owner allows in Instagram's dialog unless a test says otherwise.
INSTAGRAM_PERMISSIONS = "instagram_business_basic,instagram_business_manage_messages"
# Instagram user tokens start like this; Facebook's with "EAA".
INSTAGRAM_TOKEN_PREFIX = "IGAA"


@dataclass(frozen=True)
class _Media:
    content: bytes
    mime_type: str
    public: bool


def meta_error(
    message: str,
    code: int,
    error_type: str = "OAuthException",
    **extra: Any,
) -> dict[str, Any]:
    """The error envelope every Graph API failure uses, so clients parse the double like Meta."""
    error = {"message": message, "type": error_type, "code": code, **extra}
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
    return {"error": error}


def mask(user_id: str) -> str:
    """Only the last 4 characters of a phone number or IGSID are shown, as everywhere else."""
    return "***" + str(user_id)[-4:]


def recipient_of(body: dict[str, Any]) -> str | None:
    """The WhatsApp ``to`` or the Instagram ``recipient.id`` of a send body."""
    recipient = body.get("recipient")
    if isinstance(recipient, dict):
        return str(recipient.get("id", "")) or None
    to = body.get("to")
    return str(to) if to else None


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
    return str(text) if text else f"[{kind}]"


def _dict(value: Any) -> dict[str, Any]:
    """A send body's part when it is an object; anything else reads as empty, never raises."""
    return value if isinstance(value, dict) else {}


def _form_text(form: Any, name: str) -> str | None:
    """A form field's text; an uploaded file in its place reads as absent."""
    value = form.get(name)
    return value if isinstance(value, str) else None


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _request_token(request: web.Request) -> str | None:
    """The caller's token, as a bearer header or (as Meta also accepts) an access_token param."""
    return _bearer_token(request) or request.query.get("access_token") or None


def _base_url(request: web.Request) -> str:
    """This double's address as the client reached it. Not ``request.url``: aiohttp 3.9.5 with
    the installed yarl rejects a Host header that carries a port."""
    return f"{request.scheme}://{request.host}"


def _instagram_login(grant: _Grant) -> bool:
    """A code or token for an Instagram account alone comes from Instagram Login."""
    return grant.ig_user_id is not None and grant.waba_id is None


def _app_scoped_id(ig_user_id: str) -> str:
    """The Instagram-scoped user id Instagram Login also answers with: never the account id."""
    return "2" + str(int(hashlib.sha256(ig_user_id.encode()).hexdigest(), 16))[:16]


def _instagram_api_error(message: str) -> web.Response:
    """api.instagram.com's error shape, which is not the Graph API's."""
    body = {"error_type": "OAuthException", "code": 400, "error_message": message}
    return web.json_response(body, status=400)


def _unauthorized() -> web.Response:
    body = meta_error("Invalid OAuth access token - Cannot parse access token", 190)
    return web.json_response(body, status=401)


def _invalid(message: str) -> web.Response:
    return web.json_response(meta_error(f"(#100) {message}", 100), status=400)


def _not_found(object_id: str) -> web.Response:
    message = (
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation."
    )
    body = meta_error(message, 100, "GraphMethodException", error_subcode=33)
    return web.json_response(body, status=404)


def _answer(body: dict[str, Any]) -> dict[str, Any] | None:
    """Meta's success answer for a send body, or None when the body is neither platform's."""
    if body.get("messaging_product") == "whatsapp":
        if body.get("status") == "read":
            return {"success": True}
        to = body.get("to")
        if not to:
            return None
        message_id = "wamid." + secrets.token_urlsafe(24)
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
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


class GraphDouble:
    """The Graph API double. All state sits behind one lock so other threads may inspect it."""

    def __init__(
        self, on_send: Callable[[Record], None] | None = None, app_secret: str | None = None
    ) -> None:
        self._on_send = on_send
        self._changed = threading.Condition()
        self._sent: list[Record] = []
        self._failures: list[_Failure] = []
        self._media: dict[str, _Media] = {}
        self._app_secret = app_secret
        self._instagram_app_secret: str | None = None
        self._wrap_instagram_answers = True
        self._codes: dict[str, _Grant] = {}
        self._permissions: dict[str, str] = {}
        self._used_codes: set[str] = set()
        self._grants: dict[str, _Grant] = {}
        self._oauth_calls: list[Record] = []
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # Lifecycle

    async def start(self, host: str = DEFAULT_HOST, port: int = 0) -> None:
        """Listen on ``host:port``; port 0 picks a free one (read it back from ``url``)."""
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._url = f"http://{bound_host}:{bound_port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the Graph API double is not started")
        return self._url

    # State, usable from any thread

    @property
    def sent(self) -> list[Record]:
        """A copy of every recorded send, oldest first."""
        with self._changed:
            return copy.deepcopy(self._sent)

    def fail_next(
        self,
        code: int,
        http_status: int,
        times: int = 1,
        account_id: str | None = None,
        message: str | None = None,
    ) -> None:
        """Make the next ``times`` sends (to ``account_id``, or to any account) fail like Meta."""
        if times < 1 or not 400 <= http_status <= 599:
            raise ValueError("times must be at least 1 and http_status a 4xx or 5xx")
        text = message or _ERROR_MESSAGES.get(code, f"(#{code}) Simulated failure")
        failure = _Failure(code, http_status, times, account_id, text)
        with self._changed:
            self._failures.append(failure)

    def add_media(
        self,
        content: bytes,
        mime_type: str,
        media_id: str | None = None,
        public: bool = False,
    ) -> str:
        """Register media for download; public media is also served token-free from /__files."""
        media_id = media_id or str(10**15 + secrets.randbelow(9 * 10**15))
        with self._changed:
            self._media[media_id] = _Media(content, mime_type, public)
        return media_id

    def set_app_secret(self, app_secret: str | None) -> None:
        """The secret the OAuth exchanges must present; None accepts any non-empty one."""
        with self._changed:
            self._app_secret = app_secret

    def set_instagram_app_secret(self, app_secret: str | None) -> None:
        """The Instagram app's own secret, when it differs; None: the one of set_app_secret."""
        with self._changed:
            self._instagram_app_secret = app_secret

    def wrap_instagram_answers(self, wrapped: bool) -> None:
        """Answer Instagram's code exchange as ``{"data": [{...}]}`` (newer) or flat (older)."""
        with self._changed:
            self._wrap_instagram_answers = wrapped

    def add_oauth_code(
        self,
        code: str,
        waba_id: str | None = None,
        phone_number_id: str | None = None,
        ig_user_id: str | None = None,
        ig_permissions: str = INSTAGRAM_PERMISSIONS,
    ) -> None:
        """An authorization code, usable once, for what the owner shared: a WhatsApp Business
        account and its number, and/or an Instagram professional account. A code for an
        Instagram account alone comes from Instagram Login, where the owner allowed
        ``ig_permissions``."""
        with self._changed:
            self._codes[code] = _Grant(waba_id, phone_number_id, ig_user_id)
            self._permissions[code] = ig_permissions

    @property
    def oauth_calls(self) -> list[Record]:
        """A copy of every OAuth call, oldest first, without codes, secrets or tokens."""
        with self._changed:
            return copy.deepcopy(self._oauth_calls)

    def grant_of(self, token: str) -> dict[str, Any] | None:
        """What a token issued by the double gives access to, and whether it is long-lived."""
        with self._changed:
            grant = self._grants.get(token)
        return None if grant is None else asdict(grant)

    def clear(self) -> None:
        """Forget sends, queued failures, media and OAuth codes, tokens and calls."""
        with self._changed:
            self._sent.clear()
            self._failures.clear()
            self._media.clear()
            self._codes.clear()
            self._permissions.clear()
            self._used_codes.clear()
            self._grants.clear()
            self._oauth_calls.clear()

    def wait_for_sends(self, count: int, timeout: float) -> list[Record]:
        """Block until at least ``count`` sends are recorded; call it from another thread than
        the double's event loop, which it would otherwise stall."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._sent) >= count, timeout):
                raise TimeoutError(f"expected {count} sends, got {len(self._sent)}")
            return copy.deepcopy(self._sent)

    def _take_failure(self, account_id: str) -> _Failure | None:
        with self._changed:
            for failure in self._failures:
                if failure.account_id in (None, account_id):
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._failures.remove(failure)
                    return failure
        return None

    def _record(self, record: Record) -> None:
        with self._changed:
            record["index"] = len(self._sent)
            self._sent.append(record)
            self._changed.notify_all()
        if self._on_send is not None:
            self._on_send(copy.deepcopy(record))

    def _get_media(self, media_id: str) -> _Media | None:
        with self._changed:
            return self._media.get(media_id)

    def _record_oauth(self, record: Record, response: web.Response) -> web.Response:
        with self._changed:
            self._oauth_calls.append({**record, "status": response.status})
        return response

    def _issue(self, grant: _Grant) -> str:
        prefix = INSTAGRAM_TOKEN_PREFIX if _instagram_login(grant) else "EAAG"
        token = prefix + secrets.token_urlsafe(32)
        with self._changed:
            self._grants[token] = grant
        return token

    def _grant(self, token: str | None) -> _Grant | None:
        with self._changed:
            return self._grants.get(token) if token else None

    def _redeem(self, code: str, instagram: bool = False) -> _Grant | str:
        """The code's grant, or Meta's message when the code is unknown, already used, or was
        issued by the other login (Instagram's codes work only at Instagram, and the reverse)."""
        with self._changed:
            if code in self._used_codes:
                return "This authorization code has been used."
            grant = self._codes.get(code)
            if grant is None or _instagram_login(grant) != instagram:
                return "Invalid verification code format."
            del self._codes[code]
            self._used_codes.add(code)
            return grant

    def _permissions_of(self, code: str) -> str:
        with self._changed:
            return self._permissions.get(code, INSTAGRAM_PERMISSIONS)

    def _secret_ok(self, presented: str | None, instagram: bool = False) -> bool:
        with self._changed:
            expected = self._app_secret
            if instagram and self._instagram_app_secret is not None:
                expected = self._instagram_app_secret
        if not presented:
            return False
        return expected is None or hmac.compare_digest(presented.encode(), expected.encode())

    # HTTP

    def _app(self) -> web.Application:
        app = web.Application()
        # Fixed paths first: /__media/{id} would otherwise match /{version}/{media_id}.
        app.router.add_get("/__sent", self._handle_list_sent)
        app.router.add_delete("/__sent", self._handle_clear)
        app.router.add_post("/__control/fail", self._handle_fail)
        app.router.add_post("/__control/media", self._handle_add_media)
        app.router.add_get("/__media/{media_id}", self._handle_media_bytes)
        app.router.add_get("/__files/{name}", self._handle_public_file)
        app.router.add_post("/__control/app_secret", self._handle_set_app_secret)
        app.router.add_post("/__control/oauth_code", self._handle_add_oauth_code)
        app.router.add_post("/oauth/access_token", self._handle_instagram_code)
        app.router.add_get("/access_token", self._handle_instagram_long_lived)
        app.router.add_get("/refresh_access_token", self._handle_instagram_refresh)
        app.router.add_post("/{version}/{account_id}/messages", self._handle_send)
        app.router.add_get("/{version}/oauth/access_token", self._handle_access_token)
        app.router.add_get("/{version}/debug_token", self._handle_debug_token)
        app.router.add_get("/{version}/me", self._handle_me)
        app.router.add_get("/{version}/{waba_id}/phone_numbers", self._handle_phone_numbers)
        app.router.add_get("/{version}/{media_id}", self._handle_media_info)
        return app

    async def _handle_send(self, request: web.Request) -> web.Response:
        token = _bearer_token(request)
        if token is None:
            return _unauthorized()
        try:
            body = await request.json()
        except ValueError:
            return _invalid("The request body is not valid JSON")
        answer = _answer(body) if isinstance(body, dict) else None
        if answer is None:
            return _invalid("The parameter to (WhatsApp) or recipient.id (Instagram) is required")
        account_id = request.match_info["account_id"]
        record: Record = {
            "account_id": account_id,
            "version": request.match_info["version"],
            "token": "…" + token[-4:],
            "body": body,
            "received_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        }
        failure = self._take_failure(account_id)
        if failure is not None:
            error = meta_error(failure.message, failure.code, error_subcode=None)
            self._record({**record, "id": None, "status": failure.http_status, **error})
            return web.json_response(error, status=failure.http_status)
        self._record({**record, "id": _answered_id(answer), "status": 200, "error": None})
        return web.json_response(answer)

    async def _handle_list_sent(self, request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            since = -1
        if since < 0:
            return _invalid("since must be a non-negative integer")
        to = request.query.get("to")
        records = [
            record
            for record in self.sent[since:]
            if to is None or recipient_of(record["body"]) == to
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
            return _invalid(f"Invalid failure: {error}")
        return web.json_response({"queued": True})

    async def _handle_add_media(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            content = base64.b64decode(spec["content_b64"], validate=True)
            mime_type = str(spec["mime_type"])
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            return _invalid(f"Invalid media: {error}")
        public = bool(spec.get("public", False))
        media_id = self.add_media(content, mime_type, spec.get("id"), public)
        answer = {"id": media_id}
        if public:
            answer["url"] = f"{_base_url(request)}/__files/{media_id}"
        return web.json_response(answer)

    async def _handle_media_info(self, request: web.Request) -> web.Response:
        if _bearer_token(request) is None:
            return _unauthorized()
        media_id = request.match_info["media_id"]
        media = self._get_media(media_id)
        if media is None:
            return _not_found(media_id)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{_base_url(request)}/__media/{media_id}",
                "mime_type": media.mime_type,
                "sha256": hashlib.sha256(media.content).hexdigest(),
                "file_size": len(media.content),
                "id": media_id,
            }
        )

    async def _handle_media_bytes(self, request: web.Request) -> web.Response:
        if _bearer_token(request) is None:
            return _unauthorized()
        media_id = request.match_info["media_id"]
        media = self._get_media(media_id)
        if media is None:
            return _not_found(media_id)
        return web.Response(body=media.content, content_type=media.mime_type)

    async def _handle_public_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        media = self._get_media(name)
        if media is None or not media.public:
            return _not_found(name)
        return web.Response(body=media.content, content_type=media.mime_type)

    async def _handle_set_app_secret(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            secret = spec["app_secret"]
        except (ValueError, KeyError, TypeError) as error:
            return _invalid(f"Invalid app secret: {error}")
        if secret is not None and not isinstance(secret, str):
            return _invalid("app_secret must be a string or null")
        self.set_app_secret(secret)
        return web.json_response({"ok": True})

    async def _handle_add_oauth_code(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            code = str(spec["code"])
            ids = {
                key: str(spec[key]) if spec.get(key) else None
                for key in ("waba_id", "phone_number_id", "ig_user_id")
            }
        except (ValueError, KeyError, TypeError) as error:
            return _invalid(f"Invalid OAuth code: {error}")
        self.add_oauth_code(code, **ids)
        return web.json_response({"ok": True})

    async def _handle_access_token(self, request: web.Request) -> web.Response:
        query = request.query
        grant_type = query.get("grant_type") or "authorization_code"
        record: Record = {
            "endpoint": "oauth/access_token",
            "version": request.match_info["version"],
            "grant_type": grant_type,
            "client_id": query.get("client_id"),
            "redirect_uri": query.get("redirect_uri"),
        }
        if not query.get("client_id"):
            return self._record_oauth(record, _invalid("Missing client_id parameter."))
        if not self._secret_ok(query.get("client_secret")):
            error = meta_error("Error validating client secret.", 1)
            return self._record_oauth(record, web.json_response(error, status=400))
        if grant_type == "fb_exchange_token":
            grant = self._grant(query.get("fb_exchange_token"))
            if grant is None or _instagram_login(grant):
                error = meta_error("Invalid OAuth access token.", 190)
                return self._record_oauth(record, web.json_response(error, status=400))
            token = self._issue(replace(grant, long_lived=True))
        else:
            if not query.get("redirect_uri"):
                return self._record_oauth(record, _invalid("Missing redirect_uri parameter."))
            redeemed = self._redeem(query.get("code", ""))
            if isinstance(redeemed, str):
                return self._record_oauth(record, _invalid(redeemed))
            token = self._issue(redeemed)
        answer = {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_EXPIRES_IN}
        return self._record_oauth(record, web.json_response(answer))

    async def _handle_debug_token(self, request: web.Request) -> web.Response:
        record: Record = {"endpoint": "debug_token", "version": request.match_info["version"]}
        if _request_token(request) is None:
            return self._record_oauth(record, _unauthorized())
        grant = self._grant(request.query.get("input_token"))
        if grant is None:
            # Meta describes an invalid input token with a 200 and is_valid false.
            invalid = {"is_valid": False, "error": {"code": 190, "message": "Invalid token"}}
            return self._record_oauth(record, web.json_response({"data": invalid}))
        granular = []
        if grant.waba_id:
            granular += [
                {"scope": scope, "target_ids": [grant.waba_id]}
                for scope in ("whatsapp_business_management", "whatsapp_business_messaging")
            ]
        if grant.ig_user_id:
            granular += [
                {"scope": "instagram_business_basic"},
                {"scope": "instagram_business_manage_messages"},
            ]
        data = {
            "type": "USER",
            "is_valid": True,
            "expires_at": int(dt.datetime.now(dt.timezone.utc).timestamp()) + TOKEN_EXPIRES_IN,
            "scopes": [entry["scope"] for entry in granular],
            "granular_scopes": granular,
        }
        return self._record_oauth(record, web.json_response({"data": data}))

    async def _handle_phone_numbers(self, request: web.Request) -> web.Response:
        waba_id = request.match_info["waba_id"]
        record: Record = {
            "endpoint": "phone_numbers",
            "version": request.match_info["version"],
            "waba_id": waba_id,
        }
        token = _request_token(request)
        if token is None:
            return self._record_oauth(record, _unauthorized())
        grant = self._grant(token)
        if grant is None or grant.waba_id != waba_id:
            return self._record_oauth(record, _not_found(waba_id))
        numbers = []
        if grant.phone_number_id:
            numbers.append(
                {
                    "id": grant.phone_number_id,
                    "display_phone_number": "+234 800 000 " + grant.phone_number_id[-4:],
                    "verified_name": "Test Shop",
                }
            )
        return self._record_oauth(record, web.json_response({"data": numbers}))

    async def _handle_me(self, request: web.Request) -> web.Response:
        record: Record = {
            "endpoint": "me",
            "version": request.match_info["version"],
            "fields": request.query.get("fields"),
        }
        grant = self._grant(_request_token(request))
        if grant is None:
            return self._record_oauth(record, _unauthorized())
        if grant.ig_user_id is None:
            answer = {"id": FACEBOOK_USER_ID}  # a Facebook user: no Instagram account id
        else:
            # Instagram Login's id is Instagram-scoped; the account id is user_id.
            scoped = _instagram_login(grant)
            answer = {
                "id": _app_scoped_id(grant.ig_user_id) if scoped else grant.ig_user_id,
                "user_id": grant.ig_user_id,
                "username": "shop_" + grant.ig_user_id[-4:],
            }
        return self._record_oauth(record, web.json_response(answer))

    async def _handle_instagram_code(self, request: web.Request) -> web.Response:
        """api.instagram.com's ``POST /oauth/access_token``: a form, not a query."""
        form = await request.post()
        record: Record = {
            "endpoint": "instagram/oauth/access_token",
            "content_type": request.content_type,
            "grant_type": form.get("grant_type"),
            "client_id": form.get("client_id"),
            "redirect_uri": form.get("redirect_uri"),
        }
        if request.content_type != "application/x-www-form-urlencoded":
            return self._record_oauth(record, _instagram_api_error("Missing required field"))
        if not form.get("client_id"):
            return self._record_oauth(record, _instagram_api_error("Invalid platform app"))
        if not self._secret_ok(_form_text(form, "client_secret"), instagram=True):
            error = _instagram_api_error("Error validating client secret.")
            return self._record_oauth(record, error)
        if form.get("grant_type") != "authorization_code":
            return self._record_oauth(record, _instagram_api_error("Invalid grant_type"))
        if not form.get("redirect_uri"):
            error = _instagram_api_error("Missing required field redirect_uri")
            return self._record_oauth(record, error)
        code = _form_text(form, "code") or ""
        redeemed = self._redeem(code, instagram=True)
        if isinstance(redeemed, str):
            return self._record_oauth(record, _instagram_api_error(redeemed))
        entry = {
            "access_token": self._issue(redeemed),
            "user_id": int(_app_scoped_id(str(redeemed.ig_user_id))),
            "permissions": self._permissions_of(code),
        }
        with self._changed:
            wrapped = self._wrap_instagram_answers
        answer = {"data": [entry]} if wrapped else entry
        return self._record_oauth(record, web.json_response(answer))

    async def _handle_instagram_long_lived(self, request: web.Request) -> web.Response:
        """graph.instagram.com's ``GET /access_token?grant_type=ig_exchange_token``."""
        query = request.query
        record: Record = {
            "endpoint": "instagram/access_token",
            "grant_type": query.get("grant_type"),
        }
        if query.get("grant_type") != "ig_exchange_token":
            return self._record_oauth(record, _invalid("Unsupported grant_type."))
        if not self._secret_ok(query.get("client_secret"), instagram=True):
            error = meta_error("Error validating client secret.", 1)
            return self._record_oauth(record, web.json_response(error, status=400))
        grant = self._grant(query.get("access_token"))
        if grant is None or not _instagram_login(grant) or grant.long_lived:
            error = meta_error("Invalid OAuth access token.", 190)
            return self._record_oauth(record, web.json_response(error, status=400))
        token = self._issue(replace(grant, long_lived=True))
        answer = {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_EXPIRES_IN}
        return self._record_oauth(record, web.json_response(answer))

    async def _handle_instagram_refresh(self, request: web.Request) -> web.Response:
        """graph.instagram.com's ``GET /refresh_access_token?grant_type=ig_refresh_token``: a
        new 60-day token for a long-lived one, unless a failure is queued for its account."""
        query = request.query
        record: Record = {
            "endpoint": "instagram/refresh_access_token",
            "grant_type": query.get("grant_type"),
        }
        if query.get("grant_type") != "ig_refresh_token":
            return self._record_oauth(record, _invalid("Unsupported grant_type."))
        grant = self._grant(query.get("access_token"))
        if grant is None or not _instagram_login(grant) or not grant.long_lived:
            error = meta_error("Invalid OAuth access token.", 190)
            return self._record_oauth(record, web.json_response(error, status=400))
        record["account_id"] = grant.ig_user_id
        failure = self._take_failure(str(grant.ig_user_id))
        if failure is not None:
            error = meta_error(failure.message, failure.code)
            return self._record_oauth(record, web.json_response(error, status=failure.http_status))
        token = self._issue(grant)
        answer = {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_EXPIRES_IN}
        return self._record_oauth(record, web.json_response(answer))


class GraphDoubleThread:
    """A GraphDouble on its own event loop in a daemon thread, for synchronous tests."""

    def __init__(
        self, host: str = DEFAULT_HOST, port: int = 0, app_secret: str | None = None
    ) -> None:
        self._host = host
        self._port = port
        self._double = GraphDouble(app_secret=app_secret)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="graph-double", daemon=True
        )

    def __enter__(self) -> GraphDoubleThread:
        self._thread.start()
        try:
            self._run(self._double.start(self._host, self._port))
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._run(self._double.stop())
        finally:
            self._shutdown()

    def _run(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def _shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def url(self) -> str:
        return self._double.url

    def sent(self) -> list[Record]:
        return self._double.sent

    def fail_next(
        self,
        code: int,
        http_status: int,
        times: int = 1,
        account_id: str | None = None,
        message: str | None = None,
    ) -> None:
        self._double.fail_next(code, http_status, times, account_id, message)

    def add_media(
        self,
        content: bytes,
        mime_type: str,
        media_id: str | None = None,
        public: bool = False,
    ) -> str:
        return self._double.add_media(content, mime_type, media_id, public)

    def wait_for_sends(self, count: int, timeout: float = 5.0) -> list[Record]:
        return self._double.wait_for_sends(count, timeout)

    def add_oauth_code(
        self,
        code: str,
        waba_id: str | None = None,
        phone_number_id: str | None = None,
        ig_user_id: str | None = None,
        ig_permissions: str = INSTAGRAM_PERMISSIONS,
    ) -> None:
        self._double.add_oauth_code(code, waba_id, phone_number_id, ig_user_id, ig_permissions)

    def set_app_secret(self, app_secret: str | None) -> None:
        self._double.set_app_secret(app_secret)

    def set_instagram_app_secret(self, app_secret: str | None) -> None:
        self._double.set_instagram_app_secret(app_secret)

    def wrap_instagram_answers(self, wrapped: bool) -> None:
        self._double.wrap_instagram_answers(wrapped)

    def oauth_calls(self) -> list[Record]:
        return self._double.oauth_calls

    def grant_of(self, token: str) -> dict[str, Any] | None:
        return self._double.grant_of(token)

    def clear(self) -> None:
        self._double.clear()


def send_line(record: Record) -> str:
    """How the CLI shows one send: time, account, masked recipient, outcome, text or type."""
    body = record["body"]
    recipient = recipient_of(body)
    outcome = "" if record["error"] is None else f" FAILED {record['error']['code']}"
    text = " ".join(describe(body).split())
    text = text if len(text) <= 100 else text[:99] + "…"
    clock = dt.datetime.fromisoformat(record["received_at"]).astimezone().strftime("%H:%M:%S")
    to = mask(recipient) if recipient else "-"
    return f"{clock} {record['account_id']} -> {to}{outcome}: {text}"


async def serve(host: str, port: int) -> None:
    """Run the double until Ctrl-C or SIGTERM (as from a process manager), one line per send."""
    double = GraphDouble(on_send=lambda record: print(send_line(record), flush=True))
    await double.start(host, port)
    print(f"Graph API double listening on {double.url} (Ctrl-C to stop)", flush=True)
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        await stopped.wait()
    finally:
        await double.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.graph_double",
        description="Play Meta's Graph API locally and record every send.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
