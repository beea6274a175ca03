"""Receipts uploaded through the upload page: what the page shows, and the file it sends.

With the local store the page posts the file to the assistant; with S3 it posts straight to
the bucket (a presigned POST under a staging key), and S3 sends the browser back to the
assistant, which then reads the file from there. Either way the same limits hold (content
sniffed, 1 byte to 10 MiB, JPEG, PNG or PDF, the link unexpired and used once) and the file
becomes a receipt of the link's order, checked like any other.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import urlencode

from bot.platform.db import session_scope
from bot.platform.models import Buyer, Order, OrderStatus, Shop, UploadLink, utcnow
from bot.platform.settings import get_settings
from bot.platform.storage import DirectUpload, FileMissing, FileTooLarge, receipt_store
from bot.shop.money import format_naira
from bot.shop.receipt_checks import fingerprint
from bot.shop.receipts import MAX_BYTES, UPLOAD_TYPES, attach_uploaded_receipt, sniff_content_type
from bot.shop.upload_links import claim, usable_link

# Routes of the Rasa server's ``receipts`` channel (connectors/receipts.py).
UPLOAD_PATH = "/webhooks/receipts/upload"
DONE_PATH = "/webhooks/receipts/done"
TOKEN_PARAMETER = "t"


class UploadProblem(str, enum.Enum):
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    WRONG_TYPE = "wrong_type"
    MISSING = "missing"  # S3 sent the browser back, but no file is there
    ORDER_CANCELLED = "order_cancelled"


class UploadRejected(Exception):
    """The file cannot be a receipt (``problem`` says why); the link stays usable."""

    def __init__(self, problem: UploadProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class UploadPage:
    shop_name: str
    order_id: str
    amount: str
    direct: DirectUpload | None  # the S3 form, or None: the page posts to the assistant


@dataclass(frozen=True)
class Uploaded:
    """A receipt arrived: whom to tell, where."""

    shop_id: str
    shop_name: str
    order_id: str
    channel: str
    conversation_key: str


def upload_url(token: str) -> str:
    """The link a buyer opens (``PUBLIC_BASE_URL`` + the page's route)."""
    return _url(UPLOAD_PATH, token)


def done_url(token: str) -> str:
    """Where S3 sends the browser after a direct upload."""
    return _url(DONE_PATH, token)


def _url(path: str, token: str) -> str:
    return f"{get_settings().public_base_url}{path}?{urlencode({TOKEN_PARAMETER: token})}"


def staging_key(link: UploadLink) -> str:
    """Where a direct (S3) upload lands before it is checked and kept as a receipt."""
    return f"shops/{link.shop_id}/uploads/{link.id}"


def upload_page(token: str) -> UploadPage:
    """What the page of ``token`` shows. Raises LinkRefused, StorageUnavailable."""
    with session_scope() as session:
        link = usable_link(session, token)
        shop = session.get(Shop, link.shop_id)
        order = session.get(Order, link.order_id)
        seconds_left = int((link.expires_at - utcnow()).total_seconds())
        direct = receipt_store().direct_upload(
            staging_key(link), MAX_BYTES, done_url(token), max(seconds_left, 1)
        )
        return UploadPage(shop.name, order.id, format_naira(order.amount_kobo), direct)


def accept_upload(token: str, content: bytes) -> Uploaded:
    """Make ``content`` the receipt of the link's order and use up the link. Slow (OCR): call
    it off the event loop. Raises LinkRefused, UploadRejected, ReceiptRefused,
    StorageUnavailable; then no receipt is recorded and the link stays as it was."""
    with session_scope() as session:
        usable_link(session, token)  # a dead link is refused before the file is read
    if not content:
        raise UploadRejected(UploadProblem.EMPTY)
    if len(content) > MAX_BYTES:
        raise UploadRejected(UploadProblem.TOO_LARGE)
    content_type = sniff_content_type(content)
    if content_type not in UPLOAD_TYPES:
        raise UploadRejected(UploadProblem.WRONG_TYPE)
    found = fingerprint(content, content_type)
    with session_scope() as session:
        link = usable_link(session, token)
        order = session.get(Order, link.order_id)
        if order.status == OrderStatus.CANCELLED.value:
            raise UploadRejected(UploadProblem.ORDER_CANCELLED)
        claim(session, link)
        buyer = session.get(Buyer, link.buyer_id)
        attach_uploaded_receipt(session, buyer, order, content, content_type, found)
        shop = session.get(Shop, link.shop_id)
        return Uploaded(shop.id, shop.name, order.id, link.channel, link.conversation_key)


def finish_direct_upload(token: str) -> Uploaded:
    """S3 sent the browser back: the staged file becomes the receipt (or is refused), and the
    staging copy is removed either way. Raises as ``accept_upload``."""
    with session_scope() as session:
        key = staging_key(usable_link(session, token))
    store = receipt_store()
    try:
        content = store.get(key, MAX_BYTES)
    except FileMissing:
        raise UploadRejected(UploadProblem.MISSING) from None
    except FileTooLarge:
        store.delete(key)
        raise UploadRejected(UploadProblem.TOO_LARGE) from None
    try:
        return accept_upload(token, content)
    finally:
        store.delete(key)
