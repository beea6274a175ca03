"""Links to the upload page: one order of one buyer, unguessable, 10 minutes, usable once.

The token is 128 random bits sent to the buyer; only its SHA-256 is kept, so the database does
not hold a usable link. Single use is a conditional update: of two uploads racing on one link,
exactly one claims it.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.models import Buyer, Order, UploadLink, utcnow
from bot.shop import audit
from bot.shop.audit import AuditAction

LINK_TTL = dt.timedelta(minutes=10)
_TOKEN_BYTES = 16


class LinkProblem(str, enum.Enum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


class LinkRefused(Exception):
    """The link cannot be used (``problem`` says why); nothing was changed."""

    def __init__(self, problem: LinkProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class IssuedLink:
    token: str
    expires_at: dt.datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(
    session: Session, buyer: Buyer, order: Order, channel: str, conversation_key: str
) -> IssuedLink:
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    expires_at = utcnow() + LINK_TTL
    session.add(
        UploadLink(
            token_hash=_hash(token),
            shop_id=order.shop_id,
            order_id=order.id,
            buyer_id=buyer.id,
            channel=channel,
            conversation_key=conversation_key,
            expires_at=expires_at,
        )
    )
    audit.record(session, order.shop_id, AuditAction.UPLOAD_LINK_ISSUED, buyer, order_id=order.id)
    return IssuedLink(token, expires_at)


def usable_link(session: Session, token: str) -> UploadLink:
    """The link of ``token`` if it can still be used; raises LinkRefused otherwise."""
    link = session.execute(
        sa.select(UploadLink).where(UploadLink.token_hash == _hash(token or ""))
    ).scalar_one_or_none()
    if link is None:
        raise LinkRefused(LinkProblem.UNKNOWN)
    if link.used_at is not None:
        raise LinkRefused(LinkProblem.USED)
    if link.expires_at <= utcnow():
        raise LinkRefused(LinkProblem.EXPIRED)
    return link


def claim(session: Session, link: UploadLink) -> None:
    """Mark the link used, unless another upload did first or it expired meanwhile."""
    now = utcnow()
    claimed = session.execute(
        sa.update(UploadLink)
        .where(UploadLink.id == link.id, UploadLink.used_at.is_(None), UploadLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        raise LinkRefused(LinkProblem.USED if link.expires_at > now else LinkProblem.EXPIRED)
    link.used_at = now
