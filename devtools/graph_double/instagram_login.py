"""Instagram Login, as connecting an Instagram shop uses it: www.instagram.com's dialog
(``/oauth/authorize``), api.instagram.com's code exchange
(``POST /oauth/access_token``, form-encoded), graph.instagram.com's long-lived exchange
(``GET /access_token``) and refresh (``GET /refresh_access_token``), and ``/{version}/me``,
which tells any token's user (a Facebook Login one too). One double plays graph.facebook.com and
both Instagram hosts; a code for an Instagram account alone is exchanged here and nowhere else."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from aiohttp import web

from devtools.graph_double.core import Record, error_response, invalid, request_token, unauthorized
from devtools.graph_double.oauth import (
    FACEBOOK_USER_ID,
    OAuth,
    invalid_token,
    token_answer,
    wrong_client_secret,
)


def _app_scoped_id(ig_user_id: str) -> str:
    """The Instagram-scoped user id Instagram Login also answers with: never the account id."""
    return "2" + str(int(hashlib.sha256(ig_user_id.encode()).hexdigest(), 16))[:16]


def _form_text(form: Any, name: str) -> str | None:
    """A form field's text; an uploaded file in its place reads as absent."""
    value = form.get(name)
    return value if isinstance(value, str) else None


def _instagram_api_error(message: str) -> web.Response:
    """api.instagram.com's error shape, which is not the Graph API's."""
    body = {"error_type": "OAuthException", "code": 400, "error_message": message}
    return web.json_response(body, status=400)


class InstagramLogin(OAuth):
    """The dialog, the api.instagram.com and graph.instagram.com endpoints, and ``/me`` for both
    logins."""

    async def _handle_instagram_dialog(self, request: web.Request) -> web.Response:
        return self._dialog(request, "instagram/oauth/authorize")

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
        answer = {"data": [entry]} if self._instagram_answers_wrapped() else entry
        return self._record_oauth(record, web.json_response(answer))

    async def _handle_instagram_long_lived(self, request: web.Request) -> web.Response:
        """graph.instagram.com's ``GET /access_token?grant_type=ig_exchange_token``."""
        return self._renew(request, "instagram/access_token", "ig_exchange_token", False)

    async def _handle_instagram_refresh(self, request: web.Request) -> web.Response:
        """graph.instagram.com's ``GET /refresh_access_token?grant_type=ig_refresh_token``."""
        return self._renew(request, "instagram/refresh_access_token", "ig_refresh_token", True)

    def _renew(
        self, request: web.Request, endpoint: str, grant_type: str, refresh: bool
    ) -> web.Response:
        """A 60-day token for an Instagram Login one: a short-lived token is exchanged with the
        app secret; a long-lived one is refreshed without it, unless a failure is queued for its
        account (with ``fail_next``, as for sends)."""
        query = request.query
        record: Record = {"endpoint": endpoint, "grant_type": query.get("grant_type")}
        if query.get("grant_type") != grant_type:
            return self._record_oauth(record, invalid("Unsupported grant_type."))
        if not refresh and not self._secret_ok(query.get("client_secret"), instagram=True):
            return self._record_oauth(record, wrong_client_secret())
        grant = self._grant(query.get("access_token"))
        if grant is None or not grant.instagram_login or grant.long_lived != refresh:
            return self._record_oauth(record, invalid_token())
        if refresh:
            record["account_id"] = grant.ig_user_id
            failure = self._take_failure(str(grant.ig_user_id))
            if failure is not None:
                error = error_response(failure.message, failure.code, failure.http_status)
                return self._record_oauth(record, error)
        token = self._issue(replace(grant, long_lived=True))
        return self._record_oauth(record, token_answer(token))

    async def _handle_me(self, request: web.Request) -> web.Response:
        record: Record = {
            "endpoint": "me",
            "version": request.match_info["version"],
            "fields": request.query.get("fields"),
        }
        grant = self._grant(request_token(request))
        if grant is None:
            return self._record_oauth(record, unauthorized())
        if grant.ig_user_id is None:
            answer = {"id": FACEBOOK_USER_ID}  # a Facebook user: no Instagram account id
        else:
            # Instagram Login's id is Instagram-scoped; the account id is user_id.
            scoped = grant.instagram_login
            answer = {
                "id": _app_scoped_id(grant.ig_user_id) if scoped else grant.ig_user_id,
                "user_id": grant.ig_user_id,
                "username": "shop_" + grant.ig_user_id[-4:],
            }
        return self._record_oauth(record, web.json_response(answer))
