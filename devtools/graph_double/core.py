"""What every part of the Graph API double shares: Meta's error answers, reading the caller's
token, and the one lock (with the queue of failures on demand) that all state sits behind."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
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
    131062: (
        "(#131062) Business-scoped user ID (BSUID) recipients are not supported for this message"
    ),
    130429: "(#130429) Rate limit hit",
}


@dataclass
class Failure:
    """A failure queued with ``fail_next``: how Meta refuses, and how many more times."""

    code: int
    http_status: int
    remaining: int
    account_id: str | None
    message: str


def error_message(code: int) -> str:
    """Meta's wording for an error code, or a generic one the tests still recognise by code."""
    return _ERROR_MESSAGES.get(code, f"(#{code}) Simulated failure")


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


def error_response(message: str, code: int, status: int = 400) -> web.Response:
    """A Graph API error as an HTTP answer."""
    return web.json_response(meta_error(message, code), status=status)


def unauthorized() -> web.Response:
    """Meta's answer to a call without a usable token."""
    return error_response("Invalid OAuth access token - Cannot parse access token", 190, 401)


def invalid(message: str) -> web.Response:
    """Meta's answer to a malformed call (error 100), also used for the double's own controls."""
    return error_response(f"(#100) {message}", 100)


def not_found(object_id: str) -> web.Response:
    """Meta's answer for an object that does not exist or is not the caller's."""
    message = (
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation."
    )
    body = meta_error(message, 100, "GraphMethodException", error_subcode=33)
    return web.json_response(body, status=404)


def mask(user_id: str) -> str:
    """Only the last 4 characters of a phone number, user id or IGSID are shown, as everywhere
    else."""
    return "***" + str(user_id)[-4:]


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; blank or another scheme is none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def request_token(request: web.Request) -> str | None:
    """The caller's token, as a bearer header or (as Meta also accepts) an access_token param."""
    return bearer_token(request) or request.query.get("access_token") or None


class DoubleState:
    """The base of every part of the double: the condition guarding all of its state (so test
    threads may inspect it while the event loop serves) and the failures queued for sends and
    Instagram token refreshes alike."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._failures: list[Failure] = []

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
        text = message or error_message(code)
        failure = Failure(code, http_status, times, account_id, text)
        with self._changed:
            self._failures.append(failure)

    def clear(self) -> None:
        """Forget the queued failures; each part adds what it remembers."""
        with self._changed:
            self._failures.clear()

    def _take_failure(self, account_id: str) -> Failure | None:
        """The first failure queued for ``account_id`` (or any account), counted as used."""
        with self._changed:
            for failure in self._failures:
                if failure.account_id in (None, account_id):
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._failures.remove(failure)
                    return failure
        return None
