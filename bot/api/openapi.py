"""The OpenAPI 3 document of the API, written from the declared operations and their pydantic
models, so it cannot drift from what the routes accept and answer."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.schema import schema as models_schema

from bot.api import schemas
from bot.api.operations import IDEMPOTENCY_HEADER, OPERATIONS, PREFIX, Operation

_REFS = "#/components/schemas/"
_STATUS_TEXT = {
    400: "The body is not JSON, or a header is malformed",
    401: "No valid API key",
    404: "Not found (another shop's is not found either)",
    409: "The request conflicts with the order's state",
    413: "The body is too large",
    422: "The request is not valid; nothing changed",
    429: "Too many requests with this key; see Retry-After",
}


@functools.cache
def document() -> dict[str, Any]:
    models: list[type[BaseModel]] = [schemas.Error]
    for operation in OPERATIONS:
        models += [model for model in (operation.body, operation.answer) if model]
    components = models_schema(list(dict.fromkeys(models)), ref_prefix=_REFS)["definitions"]
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(PREFIX + operation.path, {})[operation.method.lower()] = _operation(
            operation
        )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "TrustGuard shop API",
            "version": "1",
            "description": (
                "For a shop's own systems (storefront, spreadsheet, POS): orders, buyers, "
                "receipts, settings, responses, events and notifications of one shop, the "
                "shop of the API key. Errors are JSON with a stable `code` and a `message`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A key from `python -m bot apikey create --shop <shop>`.",
                }
            },
        },
    }


def _operation(operation: Operation) -> dict[str, Any]:
    summary, _, description = (operation.description or operation.summary).partition("\n")
    spec: dict[str, Any] = {
        "operationId": operation.handler.__name__,
        "summary": operation.summary,
        "description": " ".join((summary + " " + description).split()),
        "tags": list(operation.tags),
        "parameters": [*_path_parameters(operation), *_query_parameters(operation.query)],
        "responses": _responses(operation),
    }
    if operation.idempotent:
        spec["parameters"].append(
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": False,
                "description": "Retries with the same key get the first attempt's answer.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if operation.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(operation.body)}},
        }
    return spec


def _path_parameters(operation: Operation) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in operation.path_params
    ]


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    properties = model.schema(ref_template=_REFS + "{model}")["properties"]
    return [
        {"name": name, "in": "query", "required": False, "schema": properties[name]}
        for name in model.__fields__
    ]


def _responses(operation: Operation) -> dict[str, Any]:
    success: dict[str, Any] = {"description": operation.summary}
    if operation.answer is not None and operation.status != 204:
        success["content"] = {"application/json": {"schema": _ref(operation.answer)}}
    errors = {401, 429, *operation.errors}
    if operation.body is not None:
        errors |= {400, 413, 422}
    if operation.query is not None:
        errors.add(422)
    if operation.idempotent:
        errors |= {400, 422}
    responses = {str(operation.status): success}
    for status in sorted(errors):
        responses[str(status)] = {
            "description": _STATUS_TEXT[status],
            "content": {"application/json": {"schema": _ref(schemas.Error)}},
        }
    return responses


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REFS + model.__name__}
