"""Meta's customer service window: a shop may send free-form messages to someone for 24 hours
after their last message, and outside it only approved WhatsApp templates (Instagram: nothing).

The time of each conversation's last message is kept here as messages are stored, so it
outlives the inbox's own rows.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.platform.models import ServiceWindow

WINDOW = dt.timedelta(hours=24)
# Sends this close to the window's end are treated as outside it: a message may take a while
# to leave, and Meta refuses (131047) what arrives after the end.
MARGIN = dt.timedelta(minutes=5)


def touch(session: Session, shop_id: str, channel: str, key: str, at: dt.datetime) -> None:
    """Someone wrote in the conversation ``key`` at ``at``; an older message changes nothing."""
    row = _find(session, shop_id, channel, key)
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    ServiceWindow(shop_id=shop_id, channel=channel, key=key, last_message_at=at)
                )
            return
        except IntegrityError:
            row = _find(session, shop_id, channel, key)
            if row is None:
                raise
    if row.last_message_at < at:
        row.last_message_at = at


def last_message_at(session: Session, shop_id: str, channel: str, key: str) -> dt.datetime | None:
    row = _find(session, shop_id, channel, key)
    return row.last_message_at if row is not None else None


def is_open(last: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a message sent now still reaches someone who last wrote at ``last``."""
    return last is not None and now < last + WINDOW - MARGIN


def _find(session: Session, shop_id: str, channel: str, key: str) -> ServiceWindow | None:
    return session.execute(
        sa.select(ServiceWindow).where(
            ServiceWindow.shop_id == shop_id,
            ServiceWindow.channel == channel,
            ServiceWindow.key == key,
        )
    ).scalar_one_or_none()
