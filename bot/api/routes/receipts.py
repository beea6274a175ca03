"""An order's receipts, with the checks' verdict and a short-lived link to download each."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.api import schemas
from bot.api.operations import Call, operation
from bot.api.routes.orders import ORDERS, shop_order
from bot.platform.models import Receipt
from bot.platform.storage import StorageUnavailable
from bot.shop.documents import receipt_document
from bot.shop.receipts import download_link

logger = logging.getLogger(__name__)


@operation(
    "GET",
    "/orders/{order_id}/receipts",
    "List an order's receipts",
    answer=schemas.page_of(schemas.Receipt),
    errors=(404,),
    tags=ORDERS,
)
def list_receipts(call: Call, session: Session) -> dict[str, Any]:
    """Every receipt the buyer sent for the order, newest first, with the checks' verdict; a
    received one carries a link that downloads it for 5 minutes when receipts are kept in S3."""
    order = shop_order(session, call)
    rows = session.execute(
        sa.select(Receipt)
        .where(Receipt.shop_id == call.shop_id, Receipt.order_id == order.id)
        .order_by(Receipt.created_at.desc(), Receipt.id.desc())
    ).scalars()
    return {"data": [_document(receipt) for receipt in rows], "next_cursor": None}


def _document(receipt: Receipt) -> dict[str, Any]:
    try:
        link = download_link(receipt)
    except StorageUnavailable as error:
        logger.warning("receipt download link unavailable", extra={"reason": str(error)})
        link = None
    url, expires_at = link if link else (None, None)
    return receipt_document(receipt, url, expires_at)
