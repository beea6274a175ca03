"""The API's Sanic app: the declared operations under ``/api/v1``, the OpenAPI document, errors
as JSON, and the worker that delivers events and notifications, started and stopped with it."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.api import openapi
from bot.api.auth import RateLimiter
from bot.api.errors import ApiError
from bot.api.operations import OPERATIONS, PREFIX, serve
from bot.api.routes import buyers, history, orders, receipts, shop
from bot.api.worker import OutboxWorker
from bot.platform.settings import get_settings

logger = logging.getLogger(__name__)

# Bodies are small JSON documents; a shop's whole set of responses is some 50 kB.
MAX_BODY_BYTES = 1024 * 1024
_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
# The modules whose handlers declare the operations (``operations.operation``).
ROUTES = (orders, receipts, buyers, shop, history)


def create_app(name: str = "trustguard-api", *, worker: bool = True) -> Sanic:
    """The app; ``worker`` runs the outbox worker beside it (off in tests of the routes)."""
    settings = get_settings()
    app = Sanic(name, configure_logging=False)
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.FALLBACK_ERROR_FORMAT = "json"
    limiter = RateLimiter(settings.api_rate_limit)
    for operation in OPERATIONS:
        app.add_route(
            functools.partial(serve, operation, limiter),
            operation.sanic_path,
            methods=[operation.method],
            name=operation.handler.__name__,
        )

    @app.get(f"{PREFIX}/openapi.json", name="openapi")
    async def openapi_document(_: Request) -> HTTPResponse:
        return response.json(openapi.document())

    @app.exception(SanicException)
    async def sanic_error(_: Request, error: SanicException) -> HTTPResponse:
        status = getattr(error, "status_code", 500) or 500
        code = _CODES.get(status, "error")
        return ApiError(status, code, str(error) or code.replace("_", " ")).as_response()

    @app.exception(Exception)
    async def unexpected(request: Request, error: Exception) -> HTTPResponse:
        logger.exception("api request failed", extra={"path": request.path})
        return ApiError(500, "internal_error", "Something went wrong on our side.").as_response()

    if worker:
        _run_worker(app)
    return app


def _run_worker(app: Sanic) -> None:
    async def start(app: Sanic, _: Any) -> None:
        app.ctx.worker = OutboxWorker.from_settings()
        app.ctx.worker_task = asyncio.get_running_loop().create_task(app.ctx.worker.run())

    async def stop(app: Sanic, _: Any) -> None:
        # Deliveries in progress finish; nothing new is claimed.
        await app.ctx.worker.stop()
        await app.ctx.worker_task

    app.register_listener(start, "after_server_start")
    app.register_listener(stop, "before_server_stop")
