"""Facebook Login, as connecting a WhatsApp shop uses it: the dialog (www.facebook.com's
``/{version}/dialog/oauth``), then at graph.facebook.com the code and long-lived exchanges at
``/{version}/oauth/access_token``, ``debug_token`` describing what a token grants, and
``/{waba_id}/phone_numbers`` listing the shared number."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from aiohttp import web

from devtools.graph_double.core import Record, invalid, not_found, request_token, unauthorized
from devtools.graph_double.oauth import (
    TOKEN_EXPIRES_IN,
    OAuth,
    invalid_token,
    token_answer,
    wrong_client_secret,
)


class FacebookLogin(OAuth):
    """The dialog and the graph.facebook.com endpoints of connecting a shop."""

    async def _handle_facebook_dialog(self, request: web.Request) -> web.Response:
        return self._dialog(request, "dialog/oauth")

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
            return self._record_oauth(record, invalid("Missing client_id parameter."))
        if not self._secret_ok(query.get("client_secret")):
            return self._record_oauth(record, wrong_client_secret())
        if grant_type == "fb_exchange_token":
            grant = self._grant(query.get("fb_exchange_token"))
            if grant is None or grant.instagram_login:
                return self._record_oauth(record, invalid_token())
            token = self._issue(replace(grant, long_lived=True))
        else:
            if not query.get("redirect_uri"):
                return self._record_oauth(record, invalid("Missing redirect_uri parameter."))
            redeemed = self._redeem(query.get("code", ""))
            if isinstance(redeemed, str):
                return self._record_oauth(record, invalid(redeemed))
            token = self._issue(redeemed)
        return self._record_oauth(record, token_answer(token))

    async def _handle_debug_token(self, request: web.Request) -> web.Response:
        record: Record = {"endpoint": "debug_token", "version": request.match_info["version"]}
        if request_token(request) is None:
            return self._record_oauth(record, unauthorized())
        grant = self._grant(request.query.get("input_token"))
        if grant is None:
            # Meta describes an invalid input token with a 200 and is_valid false.
            invalid_input = {"is_valid": False, "error": {"code": 190, "message": "Invalid token"}}
            return self._record_oauth(record, web.json_response({"data": invalid_input}))
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
        token = request_token(request)
        if token is None:
            return self._record_oauth(record, unauthorized())
        grant = self._grant(token)
        if grant is None or grant.waba_id != waba_id:
            return self._record_oauth(record, not_found(waba_id))
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
