"""The shop's buyers: each a person, with their phone and the accounts they write from."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.api import schemas
from bot.api.errors import not_found
from bot.api.operations import Call, operation
from bot.api.pages import page
from bot.platform.models import Buyer
from bot.platform.phones import InvalidPhone, normalise_phone
from bot.shop.documents import buyer_document

BUYERS = ("buyers",)


@operation(
    "GET",
    "/buyers",
    "List buyers",
    query=schemas.BuyerQuery,
    answer=schemas.page_of(schemas.Buyer),
    tags=BUYERS,
)
def list_buyers(call: Call, session: Session) -> dict[str, Any]:
    """The shop's buyers, newest first; ``phone`` (any spelling) finds the one with that number."""
    query: schemas.BuyerQuery = call.query
    select = sa.select(Buyer).where(Buyer.shop_id == call.shop_id)
    if query.phone:
        try:
            select = select.where(Buyer.phone == normalise_phone(query.phone))
        except InvalidPhone:
            return {"data": [], "next_cursor": None}
    rows, cursor = page(session, select, Buyer, query.cursor, query.limit)
    return {"data": [buyer_document(session, buyer) for buyer in rows], "next_cursor": cursor}


@operation(
    "GET", "/buyers/{buyer_id}", "Read a buyer", answer=schemas.Buyer, errors=(404,), tags=BUYERS
)
def get_buyer(call: Call, session: Session) -> dict[str, Any]:
    typed = call.params["buyer_id"]
    buyer = session.get(Buyer, int(typed)) if typed.isdigit() and len(typed) < 10 else None
    if buyer is None or buyer.shop_id != call.shop_id:
        raise not_found(f"Buyer {typed}")
    return buyer_document(session, buyer)
