"""The receipt upload page: ``/webhooks/receipts/upload?t=<token>`` and, after an upload
straight to S3, ``/webhooks/receipts/done?t=<token>``.

A Rasa input channel only so that the Rasa server serves the routes (listed in credentials.yml);
it never hands anything to the assistant. The page is one form with one file field. With the
local store the form posts here: the body is read as a stream and refused past 10 MiB and the
form's overhead, while every other route keeps the server's 3 MB limit. With S3 it posts to the
bucket, which sends the browser back to ``done``. Once a receipt has arrived, a buyer who asked
for the link on WhatsApp or Instagram is told so there, in the shop's words.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint
from sanic.headers import parse_content_header
from sanic.request import Request, parse_multipart_form
from sanic.response import HTTPResponse

from bot.meta.accounts import AccountDirectory
from bot.meta.graph import GraphClient
from bot.platform.models import Channel
from bot.platform.settings import get_settings
from bot.platform.storage import StorageUnavailable
from bot.shop.receipt_uploads import (
    DONE_PATH,
    TOKEN_PARAMETER,
    UPLOAD_PATH,
    Uploaded,
    UploadPage,
    UploadProblem,
    UploadRejected,
    accept_upload,
    finish_direct_upload,
    upload_page,
    upload_url,
)
from bot.shop.receipts import MAX_BYTES, ReceiptRefused
from bot.shop.shops import conversation_id
from bot.shop.upload_links import LinkProblem, LinkRefused
from connectors.instagram import InstagramInput
from connectors.meta.input import MetaInput
from connectors.pages import hide_query_in_access_log, message_page, page
from connectors.whatsapp import WhatsAppInput

logger = logging.getLogger(__name__)

NAME = "receipts"
# The file and a multipart form's boundaries and headers; the server's limit (3 MB) is lifted
# for this one route, which enforces this one instead.
MAX_FORM_BYTES = MAX_BYTES + 64 * 1024
ARRIVED_RESPONSE = "utter_receipt_arrived"
_CHANNELS: dict[str, type[MetaInput]] = {
    Channel.WHATSAPP: WhatsAppInput,
    Channel.INSTAGRAM: InstagramInput,
}
_LINK_PAGES = {
    LinkProblem.UNKNOWN: (
        404,
        "Link not valid",
        "This upload link is not valid. Type upload in the chat to get a new one.",
    ),
    LinkProblem.EXPIRED: (
        410,
        "Link expired",
        "This upload link has expired (links work for 10 minutes). Type upload in the chat to "
        "get a new one.",
    ),
    LinkProblem.USED: (
        410,
        "Link already used",
        "A receipt was already sent with this link. To send another one, type upload in the "
        "chat to get a new link.",
    ),
}
_UPLOAD_PROBLEMS = {
    UploadProblem.EMPTY: (
        400,
        "No file was chosen. Please choose the photo or PDF of the receipt.",
    ),
    UploadProblem.TOO_LARGE: (413, "That file is larger than 10 MB. Please choose a smaller one."),
    UploadProblem.WRONG_TYPE: (
        415,
        "That file is not a JPEG or PNG photo or a PDF. Please choose the receipt in one of those.",
    ),
    UploadProblem.MISSING: (400, "The file did not arrive. Please try again."),
    UploadProblem.ORDER_CANCELLED: (409, "This order was cancelled, so it takes no receipt."),
}


class ReceiptUploadInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> ReceiptUploadInput:
        """Everything comes from the environment (``PUBLIC_BASE_URL``, the receipts store)."""
        get_settings()
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        for path in (UPLOAD_PATH, DONE_PATH):
            hide_query_in_access_log(path)
        routes = Blueprint("receipt_upload", __name__)
        upload_route = UPLOAD_PATH.removeprefix(f"/webhooks/{NAME}")
        done_route = DONE_PATH.removeprefix(f"/webhooks/{NAME}")

        @routes.route(upload_route, methods=["GET"])
        async def show(request: Request) -> HTTPResponse:
            token = _token(request)
            try:
                shown = await asyncio.to_thread(upload_page, token)
            except LinkRefused as refused:
                return message_page(*_LINK_PAGES[refused.problem])
            except StorageUnavailable as error:
                return _unavailable(error)
            return _form(shown)

        @routes.route(upload_route, methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            token = _token(request)
            content = await _uploaded_file(request)
            if content is None:
                return _problem(token, UploadProblem.TOO_LARGE)
            return await self._finish(request, token, lambda: accept_upload(token, content))

        @routes.route(done_route, methods=["GET"])
        async def done(request: Request) -> HTTPResponse:
            token = _token(request)
            return await self._finish(request, token, lambda: finish_direct_upload(token))

        return routes

    async def _finish(
        self, request: Request, token: str, upload: Callable[[], Uploaded]
    ) -> HTTPResponse:
        try:
            uploaded = await asyncio.to_thread(upload)
        except LinkRefused as refused:
            return message_page(*_LINK_PAGES[refused.problem])
        except UploadRejected as rejected:
            return _problem(token, rejected.problem)
        except ReceiptRefused:
            return message_page(
                409, "Already received", "This order already has this receipt, thank you."
            )
        except StorageUnavailable as error:
            return _unavailable(error)
        await _tell_the_buyer(request, uploaded)
        return message_page(
            200,
            "Receipt received",
            f"Thank you! Your receipt for order {uploaded.order_id} has arrived. "
            f"{uploaded.shop_name} will check it. You can close this page.",
        )


def _token(request: Request) -> str:
    return request.args.get(TOKEN_PARAMETER) or ""


async def _uploaded_file(request: Request) -> bytes | None:
    """The form's file, read as it streams in; None past MAX_FORM_BYTES (nothing more is read),
    and empty when the form has no file."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        return None
    body = bytearray()
    stream = request.stream
    while stream is not None and (chunk := await stream.read()) is not None:
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    content_type, parameters = parse_content_header(request.headers.get("content-type", ""))
    boundary = parameters.get("boundary")
    if content_type != "multipart/form-data" or not isinstance(boundary, str) or not boundary:
        return b""
    _, files = parse_multipart_form(bytes(body), boundary.encode())
    chosen = files.get("file")
    return chosen.body if chosen else b""


def _form(shown: UploadPage) -> HTTPResponse:
    hidden = ""
    action = ""
    origins: tuple[str, ...] = ()
    if shown.direct is not None:
        action = f' action="{html.escape(shown.direct.url)}"'
        target = urlsplit(shown.direct.url)
        origins = (f"{target.scheme}://{target.netloc}",)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
            for name, value in shown.direct.fields.items()
        )
    body = (
        f"<p><strong>{html.escape(shown.shop_name)}</strong></p>"
        f"<p>Order <strong>{html.escape(shown.order_id)}</strong>, "
        f"amount <strong>{html.escape(shown.amount)}</strong></p>"
        f'<form method="post" enctype="multipart/form-data"{action}>{hidden}'
        '<label for="file">Photo or PDF of your transfer receipt (JPEG, PNG or PDF, up to '
        "10 MB)</label>"
        '<input id="file" type="file" name="file" required '
        'accept="image/jpeg,image/png,application/pdf,.jpg,.jpeg,.png,.pdf">'
        '<button type="submit">Send receipt</button></form>'
        "<p>This link works once, for 10 minutes.</p>"
    )
    return page(200, "Payment receipt", body, form_action=origins)


def _problem(token: str, problem: UploadProblem) -> HTTPResponse:
    status, message = _UPLOAD_PROBLEMS[problem]
    again = html.escape(upload_url(token))
    body = f'<p>{html.escape(message)}</p><p><a href="{again}">Try again</a></p>'
    return page(status, "Receipt not sent", body)


def _unavailable(error: Exception) -> HTTPResponse:
    logger.error("receipt storage unavailable", extra={"error": type(error).__name__})
    return message_page(
        503,
        "Please try again",
        "Receipts cannot be received right now. Please try again in a few minutes.",
    )


async def _tell_the_buyer(request: Request, uploaded: Uploaded) -> None:
    """On WhatsApp and Instagram, the buyer hears in the chat that the receipt arrived, worded
    by the shop's response generator and sent (and recorded) as the shop's replies are. A REST
    conversation has nothing to push to: the page itself is the confirmation."""
    channel = _CHANNELS.get(uploaded.channel)
    agent = getattr(request.app.ctx, "agent", None)
    if channel is None or agent is None:
        return
    sender_id = conversation_id(uploaded.shop_id, uploaded.channel, uploaded.conversation_key)
    settings = get_settings()
    graph = GraphClient(channel.graph_api_url(settings), settings.graph_api_version)
    try:
        tracker = DialogueStateTracker(sender_id, agent.domain.slots)
        message = await agent.nlg.generate(
            ARRIVED_RESPONSE, tracker, uploaded.channel, order_id=uploaded.order_id
        )
        output = channel.output_class()(graph, AccountDirectory(uploaded.channel))
        if message:
            await output.send_response(sender_id, message)
    except Exception as error:
        # The receipt is safe; only the chat note is lost, and the page said it arrived.
        logger.warning(
            "buyer not told of the receipt",
            extra={"shop_id": uploaded.shop_id, "error": type(error).__name__},
        )
    finally:
        await graph.close()
