"""The calls of Instagram API with Instagram Login that the Graph client cannot make: a
form-encoded POST to api.instagram.com and unversioned GETs on graph.instagram.com, for
connecting a shop (``bot.meta.oauth``) and refreshing its token (``bot.meta.token_refresh``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from bot.meta.graph import GraphError, error_from


class InstagramLogin:
    """The calls of Instagram API with Instagram Login that the Graph client cannot make: a
    form-encoded POST to api.instagram.com and unversioned GETs on graph.instagram.com.

    Connecting and refreshing are rare, so each call has its own HTTP session and none is
    retried (a code works once; the next daily run tries a refresh again). Errors are
    GraphErrors, in either of the two shapes Instagram answers them in.
    """

    def __init__(self, api_url: str, graph_url: str, version: str, timeout: float = 10.0) -> None:
        self._api_url = api_url.rstrip("/")
        self._graph_url = graph_url.rstrip("/")
        self._version = version.strip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def exchange_code(
        self, app_id: str, app_secret: str, redirect_uri: str, code: str
    ) -> dict[str, Any]:
        """The short-lived token, ``user_id`` and ``permissions``; newer answers wrap them in
        ``{"data": [...]}``."""
        form = {
            "client_id": app_id,
            "client_secret": app_secret,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
            "code": code,
        }
        answer = await self._call("POST", f"{self._api_url}/oauth/access_token", data=form)
        data = answer.get("data")
        first = data[0] if isinstance(data, list) and data else None
        return first if isinstance(first, dict) else answer

    async def long_lived(self, app_secret: str, short_token: str) -> dict[str, Any]:
        """The 60-day token (``access_token``, ``token_type``, ``expires_in``)."""
        params = {
            "grant_type": "ig_exchange_token",
            "client_secret": app_secret,
            "access_token": short_token,
        }
        return await self._call("GET", f"{self._graph_url}/access_token", params=params)

    async def refresh(self, token: str) -> tuple[str, int | None]:
        """The token valid for 60 days from now, and its lifetime in seconds if Meta said: Meta
        refreshes a long-lived token only once it is 24 hours old and before it expires."""
        params = {"grant_type": "ig_refresh_token", "access_token": token}
        url = f"{self._graph_url}/refresh_access_token"
        answer = await self._call("GET", url, params=params)
        expires_in = answer.get("expires_in")
        lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else None
        return string_value(answer, "access_token"), lifetime

    async def account(self, token: str) -> dict[str, Any]:
        """``user_id`` (the professional account id webhooks carry) and ``username``."""
        url = f"{self._graph_url}/{self._version}/me"
        return await self._call("GET", url, params={"fields": "user_id,username"}, token=token)

    async def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.request(method, url, params=params, data=data, headers=headers) as reply,
            ):
                status, raw = reply.status, await reply.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            # The exception's text may hold the url and its query: only its type goes on.
            raise GraphError(0, None, type(error).__name__, retryable=True) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if status >= 400 or not isinstance(answer, dict):
            raise error_from(status, answer)
        return answer


def string_value(answer: Mapping[str, Any], key: str) -> str:
    """A non-empty id or token of Meta's answer, as a string; GraphError when it is missing."""
    value = answer.get(key)
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
        return str(value)
    raise GraphError(200, None, f"no {key} in the answer", retryable=False)
