"""Receipt uploads: a short-lived presigned S3 POST confined to one order's prefix."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.orm import Session

from bot.platform.models import Buyer, Order, Receipt, ReceiptStatus, utcnow

MAX_BYTES = 10 * 1024 * 1024
# S3 POST policies cannot say "one of these types", so each type gets its own signed form.
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
LINK_TTL = dt.timedelta(minutes=10)
# Photos and PDFs buyers send in the chat; WhatsApp also delivers photos as WebP.
CHAT_RECEIPT_TYPES = {**EXTENSIONS, "image/webp": "webp"}


def receipts_prefix(shop_id: str, order_id: str) -> str:
    return f"shops/{shop_id}/orders/{order_id}/receipts/"


class UploadsUnavailable(RuntimeError):
    """S3 is not configured or not reachable; the buyer is told to try later."""


@functools.lru_cache(maxsize=1)
def _s3_client() -> Any:
    # boto3 reads AWS_REGION/AWS_DEFAULT_REGION, credentials and AWS_ENDPOINT_URL itself.
    session = boto3.session.Session()
    if session.get_credentials() is None:
        raise UploadsUnavailable("no AWS credentials are configured")
    return session.client("s3")


@dataclass(frozen=True)
class UploadLink:
    """Where to POST, and the signed form fields for each accepted content type."""

    url: str
    forms: dict[str, dict[str, str]]
    key_prefix: str
    expires_at: dt.datetime


def create_upload_link(session: Session, bucket: str, buyer: Buyer, order: Order) -> UploadLink:
    """Sign POST policies (1 byte to 10 MiB, fixed key and type) and record the expected receipt.

    Raises ``UploadsUnavailable`` when S3 is not configured.
    """
    prefix = receipts_prefix(order.shop_id, order.id)
    name = uuid.uuid4().hex
    url = ""
    forms: dict[str, dict[str, str]] = {}
    for content_type, extension in EXTENSIONS.items():
        try:
            post = _s3_client().generate_presigned_post(
                Bucket=bucket,
                Key=f"{prefix}{name}.{extension}",
                Fields={"Content-Type": content_type},
                Conditions=[
                    ["content-length-range", 1, MAX_BYTES],
                    {"Content-Type": content_type},
                ],
                ExpiresIn=int(LINK_TTL.total_seconds()),
            )
        except (BotoCoreError, ClientError) as error:
            raise UploadsUnavailable(error.__class__.__name__) from error
        url, forms[content_type] = post["url"], post["fields"]
    expires_at = utcnow() + LINK_TTL
    session.add(
        Receipt(
            shop_id=order.shop_id,
            order_id=order.id,
            buyer_id=buyer.id,
            s3_key_prefix=f"{prefix}{name}",
            expires_at=expires_at,
        )
    )
    return UploadLink(url, forms, prefix, expires_at)


def sniff_content_type(content: bytes) -> str | None:
    """The type the bytes really are, whatever the sender declared."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def incoming_prefix(shop_id: str) -> str:
    return f"shops/{shop_id}/receipts/incoming/"


def store_incoming_receipt(
    bucket: str, shop_id: str, inbox_id: int, content: bytes, content_type: str
) -> str:
    """Keep a receipt sent in the chat (it is evidence) before it is attached to an order."""
    digest = hashlib.sha256(content).hexdigest()
    key = f"{incoming_prefix(shop_id)}{inbox_id}-{digest[:16]}.{CHAT_RECEIPT_TYPES[content_type]}"
    try:
        _s3_client().put_object(
            Bucket=bucket,
            Key=key,
            Body=content,
            ContentType=content_type,
            Metadata={"sha256": digest},
        )
    except (BotoCoreError, ClientError) as error:
        raise UploadsUnavailable(error.__class__.__name__) from error
    return key


def attach_receipt(session: Session, bucket: str, buyer: Buyer, order: Order, key: str) -> Receipt:
    """Record a stored chat receipt against the buyer's order.

    The key must be one the channel stored for this shop, and the object must exist: a key typed
    into a payload by hand attaches nothing.
    """
    if not key.startswith(incoming_prefix(order.shop_id)) or ".." in key:
        raise UploadsUnavailable("not a receipt of this shop")
    try:
        head = _s3_client().head_object(Bucket=bucket, Key=key)
    except (BotoCoreError, ClientError) as error:
        raise UploadsUnavailable(error.__class__.__name__) from error
    receipt = Receipt(
        shop_id=order.shop_id,
        order_id=order.id,
        buyer_id=buyer.id,
        s3_key_prefix=key.rsplit("/", 1)[0] + "/",
        s3_key=key,
        status=ReceiptStatus.RECEIVED.value,
        content_type=head.get("ContentType"),
        size_bytes=head.get("ContentLength"),
        sha256=(head.get("Metadata") or {}).get("sha256"),
        expires_at=utcnow(),
    )
    session.add(receipt)
    return receipt


DOWNLOAD_TTL = dt.timedelta(minutes=5)


def download_link(bucket: str, receipt: Receipt) -> tuple[str, dt.datetime] | None:
    """A presigned GET of a received receipt, valid ``DOWNLOAD_TTL``, and when it expires; None
    for a receipt not received yet. Raises ``UploadsUnavailable`` when S3 is not configured."""
    if not receipt.s3_key:
        return None
    try:
        url = _s3_client().generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket, "Key": receipt.s3_key},
            ExpiresIn=int(DOWNLOAD_TTL.total_seconds()),
        )
    except (BotoCoreError, ClientError) as error:
        raise UploadsUnavailable(error.__class__.__name__) from error
    return url, utcnow() + DOWNLOAD_TTL
