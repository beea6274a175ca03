"""A non-blocking Graph API client for sends, media lookups, media downloads and the reads of
connecting a shop (OAuth).

Calls are retried, with capped exponential backoff and full jitter, only when Meta's answer says
a later attempt can succeed (rate limits, 5xx, no answer at all); anything else fails at once.
Logs carry the operation, error code and attempt, never a token, a body, a url or a query.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

logger = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset({130429, 131056, 80007, 4})
PERMANENT_CODES = frozenset({131047, 131026, 131049, 131051, 190, 368})

_JSON_ANSWER_LIMIT = 1024 * 1024
_CHUNK_BYTES = 64 * 1024
# No answer arrived, or it broke off: the next attempt may well succeed.
_TRANSIENT_ERRORS = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    asyncio.TimeoutError,
)

T = TypeVar("T")


class GraphError(Exception):
    """A Graph API call failed; ``retryable`` says whether trying again later can succeed.

    ``http_status`` is 0 and ``code`` None when no answer arrived (connection error, timeout).
    """

    def __init__(self, http_status: int, code: int | None, title: str, retryable: bool) -> None:
        super().__init__(f"HTTP {http_status}, code {code}: {title}")
        self.http_status = http_status
        self.code = code
        self.title = title
        self.retryable = retryable


class GraphClient:
    """One client per process; its coroutines may run concurrently on one event loop."""

    def __init__(
        self,
        base_url: str,
        version: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._root = f"{base_url.rstrip('/')}/{version.strip('/')}"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    async def send_message(self, account_id: str, token: str, body: Mapping[str, Any]) -> str:
        """POST one message; returns the id Meta gave it (WhatsApp wamid or Instagram mid).

        A timeout or a 5xx is retried although Meta may already have delivered the message,
        since the Send API has no idempotency key: a rare duplicate beats a lost reply.
        """
        url = URL(f"{self._root}/{quote(account_id, safe='')}/messages")
        answer = await self._call("send_message", "POST", url, token, _read_json, dict(body))
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        message_id = first.get("id") if isinstance(first, dict) else answer.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise GraphError(200, None, "no message id in the answer", retryable=False)
        return message_id

    async def media_info(self, media_id: str, token: str) -> dict[str, Any]:
        """The media's ``url`` (valid 5 minutes), ``mime_type``, ``sha256`` and ``file_size``."""
        url = URL(f"{self._root}/{quote(media_id, safe='')}")
        return await self._call("media_info", "GET", url, token, _read_json)

    async def download(self, url: str, token: str, max_bytes: int) -> bytes:
        """The bytes at ``url``, refused (``title="too large"``) past ``max_bytes`` unread.

        The token goes to ``url``, so pass only urls from ``media_info``; an empty token sends
        no Authorization header, for public CDN urls such as Instagram attachments.
        """
        # The url is signed: sent exactly as Meta wrote it, never re-quoted.
        try:
            target = URL(url, encoded=True)
        except ValueError:  # yarl's answer to an unreadable host ("http://[::1")
            target = URL()
        if target.scheme not in ("http", "https") or not target.host:
            raise GraphError(0, None, "not an http(s) url", retryable=False)
        reader = partial(_read_bytes, max_bytes=max_bytes)
        return await self._call("download", "GET", target, token, reader)

    async def get(self, path: str, token: str | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``GET /{version}/{path}?{params}`` as a JSON object, with the token (if any) as a
        bearer header. ``path`` is a fixed route with ids already in it (``123/phone_numbers``);
        params may carry secrets (an OAuth code, the app secret), so they are never logged."""
        url = URL(f"{self._root}/{path.strip('/')}").with_query(dict(params))
        return await self._call(f"get {path}", "GET", url, token or "", _read_json)

    async def close(self) -> None:
        """Close the HTTP session; the client opens a new one if it is used again."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _call(
        self,
        operation: str,
        method: str,
        url: URL,
        token: str,
        read: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        body: dict[str, Any] | None = None,
    ) -> T:
        attempt = 1
        while True:
            try:
                return await self._attempt(method, url, token, read, body)
            except GraphError as error:
                if not error.retryable or attempt >= self._max_attempts:
                    raise
                ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
                delay = random.uniform(0, ceiling)
                logger.warning(
                    "graph api call failed; retrying",
                    extra={
                        "operation": operation,
                        "http_status": error.http_status,
                        "graph_code": error.code,
                        "attempt": attempt,
                        "max_attempts": self._max_attempts,
                        "delay_s": round(delay, 3),
                    },
                )
                await self._sleep(delay)
                attempt += 1

    async def _attempt(
        self,
        method: str,
        url: URL,
        token: str,
        read: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        body: dict[str, Any] | None,
    ) -> T:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with self._http().request(method, url, headers=headers, json=body) as response:
                return await read(response)
        except _TRANSIENT_ERRORS as error:
            raise GraphError(0, None, type(error).__name__, retryable=True) from error

    def _http(self) -> aiohttp.ClientSession:
        """The session for the running loop: an aiohttp session is bound to its loop."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._session_loop = loop
        return self._session


async def _read_json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    answer = await _decoded(response)
    if response.status >= 400:
        raise error_from(response.status, answer)
    if not isinstance(answer, dict):
        raise GraphError(response.status, None, "the answer is not a JSON object", retryable=False)
    return answer


async def _read_bytes(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    if response.status >= 400:
        raise error_from(response.status, await _decoded(response))
    return await _read_capped(response, max_bytes)


async def _decoded(response: aiohttp.ClientResponse) -> Any:
    """The JSON answer, or None when it is not JSON (a proxy's HTML error page, say)."""
    raw = await _read_capped(response, _JSON_ANSWER_LIMIT)
    try:
        return json.loads(raw)
    except ValueError:
        return None


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body, read in chunks and abandoned as soon as it is known to be too large."""
    if response.content_length is not None and response.content_length > max_bytes:
        raise GraphError(response.status, None, "too large", retryable=False)
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        body += chunk
        if len(body) > max_bytes:
            raise GraphError(response.status, None, "too large", retryable=False)
    return bytes(body)


def error_from(http_status: int, answer: Any) -> GraphError:
    """Meta's error answer as a GraphError: the Graph API's ``{"error": {"message", "code",
    ...}}``, or api.instagram.com's flat ``{"code", "error_type", "error_message"}``."""
    body: dict[str, Any] = answer if isinstance(answer, dict) else {}
    nested = body.get("error")
    error: dict[str, Any] = nested if isinstance(nested, dict) else body
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = error.get("message") or error.get("error_message")
    title = message if isinstance(message, str) and message else f"HTTP {http_status}"
    retryable = code not in PERMANENT_CODES and (
        code in RETRYABLE_CODES or http_status >= 500 or (http_status == 429 and code is None)
    )
    return GraphError(http_status, code, title, retryable)
