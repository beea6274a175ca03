"""Buyers are per shop and channel: one person buying from two shops is two buyers."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.platform.models import Buyer, utcnow


def find_buyer(session: Session, shop_id: str, channel: str, user_id: str) -> Buyer | None:
    return session.execute(
        sa.select(Buyer).where(
            Buyer.shop_id == shop_id, Buyer.channel == channel, Buyer.channel_user_id == user_id
        )
    ).scalar_one_or_none()


def get_or_create_buyer(
    session: Session, shop_id: str, channel: str, user_id: str, display_name: str | None = None
) -> tuple[Buyer, bool]:
    """Returns the buyer and whether it was created now; safe when two requests race."""
    buyer = find_buyer(session, shop_id, channel, user_id)
    if buyer is not None:
        return buyer, False
    try:
        with session.begin_nested():
            buyer = Buyer(
                shop_id=shop_id, channel=channel, channel_user_id=user_id, display_name=display_name
            )
            session.add(buyer)
        return buyer, True
    except IntegrityError:
        # The other request's row, committed between our look-up and our insert.
        winner = find_buyer(session, shop_id, channel, user_id)
        if winner is None:
            raise
        return winner, False


def mark_verified(buyer: Buyer) -> None:
    if buyer.verified_at is None:
        buyer.verified_at = utcnow()
