"""Buyers are people of one shop: one buyer however many accounts they write from.

A buyer has at most one phone number (E.164) and any number of identities, each an account on
one channel and one conversation (``BuyerIdentity``). Identities are bound to a buyer as proof
arrives (a WhatsApp webhook showing a number, a code sent to a number and typed back) and never
across shops: one person buying from two shops is two buyers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.platform.masking import mask_user_id
from bot.platform.models import (
    Buyer,
    BuyerIdentity,
    Order,
    OtpChallenge,
    Receipt,
    UploadLink,
    utcnow,
)

logger = logging.getLogger(__name__)


def find_identity(session: Session, shop_id: str, channel: str, key: str) -> BuyerIdentity | None:
    return session.execute(
        sa.select(BuyerIdentity).where(
            BuyerIdentity.shop_id == shop_id,
            BuyerIdentity.channel == channel,
            BuyerIdentity.key == key,
        )
    ).scalar_one_or_none()


def find_buyer(session: Session, shop_id: str, channel: str, key: str) -> Buyer | None:
    """The buyer of a conversation (``shop:channel:key``), if the shop knows them."""
    return session.execute(
        sa.select(Buyer)
        .join(BuyerIdentity, BuyerIdentity.buyer_id == Buyer.id)
        .where(
            BuyerIdentity.shop_id == shop_id,
            BuyerIdentity.channel == channel,
            BuyerIdentity.key == key,
        )
    ).scalar_one_or_none()


def find_by_phone(session: Session, shop_id: str, phone: str) -> Buyer | None:
    return session.execute(
        sa.select(Buyer).where(Buyer.shop_id == shop_id, Buyer.phone == phone)
    ).scalar_one_or_none()


def get_or_create_buyer(
    session: Session, shop_id: str, channel: str, key: str, display_name: str | None = None
) -> tuple[Buyer, bool]:
    """The buyer of a conversation, made with its identity when new; safe when two requests
    race. Returns the buyer and whether it was created now."""

    def make() -> Buyer:
        buyer = Buyer(shop_id=shop_id, display_name=display_name)
        session.add(buyer)
        session.flush()
        session.add(BuyerIdentity(shop_id=shop_id, buyer_id=buyer.id, channel=channel, key=key))
        return buyer

    return _find_or_make(session, lambda: find_buyer(session, shop_id, channel, key), make)


def buyer_for_phone(session: Session, shop_id: str, phone: str) -> tuple[Buyer, bool]:
    """The buyer with this number, or a new one whose number nobody has proven yet (an owner
    made an order for it): whoever proves the number later becomes this buyer."""

    def make() -> Buyer:
        buyer = Buyer(shop_id=shop_id, phone=phone)
        session.add(buyer)
        return buyer

    return _find_or_make(session, lambda: find_by_phone(session, shop_id, phone), make)


def _find_or_make(
    session: Session, find: Callable[[], Buyer | None], make: Callable[[], Buyer]
) -> tuple[Buyer, bool]:
    """The buyer ``find`` gives, else the one ``make`` adds; when two requests race, the loser
    takes the winner's (a unique key refuses its insert). Returns whether it was made now."""
    buyer = find()
    if buyer is not None:
        return buyer, False
    try:
        with session.begin_nested():
            return make(), True
    except IntegrityError:
        winner = find()
        if winner is None:
            raise
        return winner, False


def prove_phone(session: Session, buyer: Buyer, phone: str) -> Buyer:
    """``buyer`` has shown that ``phone`` is theirs: the number becomes their proven one, and a
    buyer of the same shop who held it (orders an owner made for the number) becomes one with
    them. Returns the buyer that remains. A buyer has one number: a new one replaces the old."""
    holder = find_by_phone(session, buyer.shop_id, phone)
    if holder is not None and holder.id != buyer.id:
        buyer = merge_buyers(session, buyer, holder)
    if buyer.phone != phone or buyer.phone_verified_at is None:
        buyer.phone, buyer.phone_verified_at = phone, utcnow()
        session.flush()
    return buyer


def release_phone(session: Session, shop_id: str, phone: str) -> None:
    """Nobody in the shop holds ``phone`` any more (its owner moved to another number)."""
    session.execute(
        sa.update(Buyer)
        .where(Buyer.shop_id == shop_id, Buyer.phone == phone)
        .values(phone=None, phone_verified_at=None)
        .execution_options(synchronize_session="fetch")
    )


def merge_buyers(session: Session, one: Buyer, other: Buyer) -> Buyer:
    """Two buyers of one shop found to be one person become the older of the two: identities,
    orders, receipts and codes move over (open codes are withdrawn: each was made for its
    buyer), verification is kept, and the other buyer is gone."""
    if one.shop_id != other.shop_id:
        raise ValueError("buyers of different shops are different people")
    keep, gone = (one, other) if one.id < other.id else (other, one)
    now = utcnow()
    session.execute(
        sa.update(OtpChallenge)
        .where(
            OtpChallenge.buyer_id == gone.id,
            OtpChallenge.consumed_at.is_(None),
            OtpChallenge.superseded_at.is_(None),
        )
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    for model in (BuyerIdentity, Order, Receipt, UploadLink, OtpChallenge):
        session.execute(
            sa.update(model)
            .where(model.shop_id == keep.shop_id, model.buyer_id == gone.id)
            .values(buyer_id=keep.id)
            .execution_options(synchronize_session=False)
        )
    phone, phone_verified_at = keep.phone, keep.phone_verified_at
    if gone.phone and (phone is None or (gone.phone_verified_at and not phone_verified_at)):
        phone, phone_verified_at = gone.phone, gone.phone_verified_at
    verified = [at for at in (keep.verified_at, gone.verified_at) if at is not None]
    keep.verified_at = min(verified) if verified else None
    keep.display_name = keep.display_name or gone.display_name
    session.delete(gone)
    session.flush()
    keep.phone, keep.phone_verified_at = phone, phone_verified_at
    session.flush()
    session.expire_all()
    logger.info("buyers merged", extra={"shop_id": keep.shop_id, "buyer_id": keep.id})
    return session.get(Buyer, keep.id)


def mark_verified(buyer: Buyer) -> None:
    if buyer.verified_at is None:
        buyer.verified_at = utcnow()


def label(buyer: Buyer) -> str:
    """How the audit trail and the owner's tools name a buyer without exposing them."""
    return mask_user_id(buyer.phone) if buyer.phone else f"buyer #{buyer.id}"
