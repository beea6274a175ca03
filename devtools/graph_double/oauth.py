"""What both logins of connecting a shop share: the owner's visit to the dialog (``authorize_next``
says what they will share; without it they decline), authorization codes registered with
``add_oauth_code`` (each usable once), the tokens issued for them and what each grants, the app
secrets the exchanges must present, and the record of OAuth calls (without codes, states, secrets
or tokens). Facebook Login and Instagram Login build their endpoints on it."""

from __future__ import annotations

import copy
import hmac
import secrets
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from devtools.graph_double.core import DoubleState, Record, error_response, invalid

# Meta's answer for both the code exchange and the long-lived exchange (about 60 days).
TOKEN_EXPIRES_IN = 5183944
FACEBOOK_USER_ID = "100000000000001"
# What the owner allows in Instagram's dialog unless a test says otherwise.
INSTAGRAM_PERMISSIONS = "instagram_business_basic,instagram_business_manage_messages"
# Instagram user tokens start like this; Facebook's with "EAA".
INSTAGRAM_TOKEN_PREFIX = "IGAA"


@dataclass(frozen=True)
class Grant:
    """What the shop owner shared in the dialog, as the tokens issued for it will show."""

    waba_id: str | None
    phone_number_id: str | None
    ig_user_id: str | None
    long_lived: bool = False

    @property
    def instagram_login(self) -> bool:
        """A code or token for an Instagram account alone comes from Instagram Login."""
        return self.ig_user_id is not None and self.waba_id is None


def token_answer(token: str) -> web.Response:
    """Meta's answer to every exchange or refresh that issues a (long-lived) token."""
    answer = {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_EXPIRES_IN}
    return web.json_response(answer)


def invalid_token() -> web.Response:
    """Meta's answer when the token to exchange or refresh is not one it would take."""
    return error_response("Invalid OAuth access token.", 190)


def wrong_client_secret() -> web.Response:
    """The Graph API's answer when the app secret presented is not the app's."""
    return error_response("Error validating client secret.", 1)


class OAuth(DoubleState):
    """Codes, tokens, secrets and the OAuth call log, with the controls to set them up."""

    def __init__(self) -> None:
        super().__init__()
        self._app_secret: str | None = None
        self._instagram_app_secret: str | None = None
        self._wrap_instagram_answers = True
        self._codes: dict[str, Grant] = {}
        self._permissions: dict[str, str] = {}
        self._used_codes: set[str] = set()
        self._grants: dict[str, Grant] = {}
        self._oauth_calls: list[Record] = []
        self._owner_choices: deque[tuple[Grant, str]] = deque()

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
            self._codes[code] = Grant(waba_id, phone_number_id, ig_user_id)
            self._permissions[code] = ig_permissions

    def authorize_next(
        self,
        waba_id: str | None = None,
        phone_number_id: str | None = None,
        ig_user_id: str | None = None,
        ig_permissions: str = INSTAGRAM_PERMISSIONS,
    ) -> None:
        """What the owner shares at their next visit to a dialog (as ``add_oauth_code`` takes it):
        the dialog then sends them back to the redirect URI with a fresh code for it. A visit
        with nothing queued is declined, as Meta reports a refusal."""
        with self._changed:
            grant = Grant(waba_id, phone_number_id, ig_user_id)
            self._owner_choices.append((grant, ig_permissions))

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
        """Forget OAuth codes, tokens and calls, as well as what the other parts remember."""
        super().clear()
        with self._changed:
            self._codes.clear()
            self._permissions.clear()
            self._used_codes.clear()
            self._grants.clear()
            self._oauth_calls.clear()
            self._owner_choices.clear()

    def _record_oauth(self, record: Record, response: web.Response) -> web.Response:
        """Log the call with the status it is answered with, and answer it."""
        with self._changed:
            self._oauth_calls.append({**record, "status": response.status})
        return response

    def _dialog(self, request: web.Request, endpoint: str) -> web.Response:
        """The owner's visit to a login dialog: back to ``redirect_uri`` with our ``state`` and a
        fresh code for what they share (``authorize_next``), or with Meta's refusal."""
        query = request.query
        record: Record = {
            "endpoint": endpoint,
            "client_id": query.get("client_id"),
            "redirect_uri": query.get("redirect_uri"),
            "scope": query.get("scope"),
        }
        redirect_uri = query.get("redirect_uri")
        if not query.get("client_id") or not redirect_uri or query.get("response_type") != "code":
            return self._record_oauth(record, invalid("client_id, redirect_uri and code needed"))
        with self._changed:
            choice = self._owner_choices.popleft() if self._owner_choices else None
        back = {"state": query["state"]} if "state" in query else {}
        if choice is None:
            back.update(
                error="access_denied",
                error_code="200",
                error_description="Permissions error",
                error_reason="user_denied",
            )
        else:
            grant, permissions = choice
            code = secrets.token_urlsafe(24)
            self.add_oauth_code(
                code, grant.waba_id, grant.phone_number_id, grant.ig_user_id, permissions
            )
            back["code"] = code
        joiner = "&" if "?" in redirect_uri else "?"
        location = f"{redirect_uri}{joiner}{urlencode(back)}"
        return self._record_oauth(record, web.Response(status=302, headers={"Location": location}))

    def _issue(self, grant: Grant) -> str:
        prefix = INSTAGRAM_TOKEN_PREFIX if grant.instagram_login else "EAAG"
        token = prefix + secrets.token_urlsafe(32)
        with self._changed:
            self._grants[token] = grant
        return token

    def _grant(self, token: str | None) -> Grant | None:
        with self._changed:
            return self._grants.get(token) if token else None

    def _redeem(self, code: str, instagram: bool = False) -> Grant | str:
        """The code's grant, or Meta's message when the code is unknown, already used, or was
        issued by the other login (Instagram's codes work only at Instagram, and the reverse)."""
        with self._changed:
            if code in self._used_codes:
                return "This authorization code has been used."
            grant = self._codes.get(code)
            if grant is None or grant.instagram_login != instagram:
                return "Invalid verification code format."
            del self._codes[code]
            self._used_codes.add(code)
            return grant

    def _permissions_of(self, code: str) -> str:
        with self._changed:
            return self._permissions.get(code, INSTAGRAM_PERMISSIONS)

    def _instagram_answers_wrapped(self) -> bool:
        with self._changed:
            return self._wrap_instagram_answers

    def _secret_ok(self, presented: str | None, instagram: bool = False) -> bool:
        with self._changed:
            expected = self._app_secret
            if instagram and self._instagram_app_secret is not None:
                expected = self._instagram_app_secret
        if not presented:
            return False
        return expected is None or hmac.compare_digest(presented.encode(), expected.encode())

    async def _handle_set_app_secret(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            secret = spec["app_secret"]
        except (ValueError, KeyError, TypeError) as error:
            return invalid(f"Invalid app secret: {error}")
        if secret is not None and not isinstance(secret, str):
            return invalid("app_secret must be a string or null")
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
            return invalid(f"Invalid OAuth code: {error}")
        self.add_oauth_code(code, **ids)
        return web.json_response({"ok": True})
