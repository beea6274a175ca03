"""Errors as the API answers them: JSON with a stable ``code`` and a human ``message``."""

from __future__ import annotations

from typing import Any

from sanic import response
from sanic.response import HTTPResponse


class ApiError(Exception):
    """An answer other than success: its HTTP status, code, message and (for a bad body) the
    problems found, each naming where."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.problems is not None:
            body["problems"] = self.problems
        return body

    def as_response(self) -> HTTPResponse:
        return response.json(self.body(), status=self.status, headers=self.headers)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def invalid(message: str, problems: list[dict[str, str]] | None = None) -> ApiError:
    return ApiError(422, "invalid_request", message, problems)
