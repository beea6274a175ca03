"""The API's operations, declared once: each route's handler with its body, query and answer
models, which both serve requests (``serve``) and write the OpenAPI document.

A handler is a plain function of the call and a database session, run in a worker thread in one
transaction: it commits when the handler returns and changes nothing when it raises. An
operation that takes an ``Idempotency-Key`` gives a retry the answer of the first attempt.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.api.auth import Caller, RateLimiter, caller_of
from bot.api.errors import ApiError, invalid
from bot.platform.db import session_scope
from bot.shop import idempotency

PREFIX = "/api/v1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True)
class Call:
    """One authenticated request, as a handler sees it."""

    caller: Caller
    params: dict[str, str]
    body: Any = None
    query: Any = None

    @property
    def shop_id(self) -> str:
        return self.caller.shop_id


@dataclass(frozen=True)
class Reply:
    body: Any
    status: int = 200


Handler = Callable[[Call, Session], Any]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # under PREFIX, OpenAPI style: /orders/{order_id}
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    idempotent: bool = False
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def sanic_path(self) -> str:
        return PREFIX + re.sub(r"{(\w+)}", r"<\1:str>", self.path)


OPERATIONS: list[Operation] = []


def operation(method: str, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
    """Declare ``handler`` as the API's ``method path``."""

    def declare(handler: Handler) -> Handler:
        OPERATIONS.append(
            Operation(method, path, handler, summary, description=handler.__doc__ or "", **options)
        )
        return handler

    return declare


async def serve(
    operation: Operation, limiter: RateLimiter, request: Request, **params: str
) -> HTTPResponse:
    try:
        caller = await asyncio.to_thread(caller_of, request.headers.get("Authorization"))
        limiter.check(caller.key_id)
        call = Call(caller, params, _body(operation, request), _query(operation, request))
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if operation.idempotent and key is not None:
            fingerprint = idempotency.fingerprint(request.method, request.path, request.body or b"")
            reply, replayed = await asyncio.to_thread(_once, operation, call, key, fingerprint)
        else:
            reply, replayed = await asyncio.to_thread(_run, operation, call), False
    except ApiError as error:
        return error.as_response()
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    if reply.status == 204:
        return response.empty(headers=headers)
    return response.json(reply.body, status=reply.status, headers=headers)


def _run(operation: Operation, call: Call) -> Reply:
    with session_scope() as session:
        return _reply(operation, operation.handler(call, session))


def _reply(operation: Operation, answer: Any) -> Reply:
    return answer if isinstance(answer, Reply) else Reply(answer, operation.status)


def _once(operation: Operation, call: Call, key: str, fingerprint: str) -> tuple[Reply, bool]:
    """The first attempt's answer for this key, or this attempt's, kept with its work."""
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable characters."
        )
    try:
        with session_scope() as session:
            earlier = _earlier(session, call, key, fingerprint)
            if earlier is not None:
                return earlier, True
            reply = _reply(operation, operation.handler(call, session))
            answer = idempotency.Answer(reply.status, reply.body)
            idempotency.remember(session, call.shop_id, key, fingerprint, answer)
            return reply, False
    except IntegrityError:
        # A concurrent attempt with the same key got there first: this one's work is undone.
        with session_scope() as session:
            earlier = _earlier(session, call, key, fingerprint)
        if earlier is None:
            raise
        return earlier, True


def _earlier(session: Session, call: Call, key: str, fingerprint: str) -> Reply | None:
    try:
        answer = idempotency.earlier_answer(session, call.shop_id, key, fingerprint)
    except idempotency.KeyReused:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used for another request; use a new key for a new request.",
        ) from None
    return Reply(answer.body, answer.status_code) if answer is not None else None


def _body(operation: Operation, request: Request) -> Any:
    if operation.body is None:
        return None
    try:
        raw = json.loads(request.body or b"")
    except ValueError:
        raise ApiError(400, "invalid_json", "The body must be a JSON object.") from None
    return _validated(operation.body, raw, "The body")


def _query(operation: Operation, request: Request) -> Any:
    if operation.query is None:
        return None
    values = {name: request.args.get(name) for name in request.args}
    return _validated(operation.query, values, "The query")


def _validated(model: type[BaseModel], raw: Any, what: str) -> BaseModel:
    try:
        return model.parse_obj(raw)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(part) for part in problem["loc"]), "problem": problem["msg"]}
            for problem in error.errors()
        ]
        raise invalid(f"{what} is not valid: see problems.", problems) from None
