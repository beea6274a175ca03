"""One-time codes: generation, storage as an HMAC, verification that is single-use under races.

A code is 8 characters from letters and digits without look-alikes (no 0 O 1 I L) and the
symbols ``#%&+=@`` (WhatsApp turns ``*_~`` into formatting). Each code holds at least one digit
and one symbol so that an ordinary word is never mistaken for one.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.models import Buyer, OtpChallenge, utcnow

LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ"
DIGITS = "23456789"
SYMBOLS = "#%&+=@"
ALPHABET = LETTERS + DIGITS + SYMBOLS
CODE_LENGTH = 8
MAX_FAILED_ATTEMPTS = 5
RESEND_INTERVAL = dt.timedelta(seconds=60)
MAX_CODES_PER_HOUR = 5


def generate_code() -> str:
    """A uniformly random code among those with at least one digit and one symbol."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if any(c in DIGITS for c in code) and any(c in SYMBOLS for c in code):
            return code


def code_hmac(key: str, buyer_id: int, code: str) -> str:
    """Bound to the buyer, so a stored HMAC is useless for anyone else's challenge."""
    message = f"{buyer_id}:{code.strip().upper()}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


class IssueRefused(Exception):
    """Too many codes asked for; ``retry_after`` says when the next one may be issued."""

    def __init__(self, retry_after: dt.timedelta, *, hourly_limit: bool) -> None:
        super().__init__(f"retry after {int(retry_after.total_seconds())} s")
        self.retry_after = retry_after
        self.hourly_limit = hourly_limit


def issue_code(
    session: Session, buyer: Buyer, *, key: str, ttl_seconds: int, phone: str | None = None
) -> str:
    """Issue a fresh code for the buyer, superseding the previous one. Returns the plain code.

    With ``phone`` the code is to be sent to that number: typed back, it proves the number is the
    buyer's. Both kinds share the limits, so sending codes to numbers cannot be abused either.
    """
    now = utcnow()
    recent = (
        session.execute(
            sa.select(OtpChallenge.created_at)
            .where(
                OtpChallenge.shop_id == buyer.shop_id,
                OtpChallenge.buyer_id == buyer.id,
                OtpChallenge.created_at > now - dt.timedelta(hours=1),
            )
            .order_by(OtpChallenge.created_at.desc())
        )
        .scalars()
        .all()
    )
    if recent and now - recent[0] < RESEND_INTERVAL:
        raise IssueRefused(RESEND_INTERVAL - (now - recent[0]), hourly_limit=False)
    if len(recent) >= MAX_CODES_PER_HOUR:
        raise IssueRefused(recent[-1] + dt.timedelta(hours=1) - now, hourly_limit=True)

    session.execute(
        sa.update(OtpChallenge)
        .where(
            OtpChallenge.shop_id == buyer.shop_id,
            OtpChallenge.buyer_id == buyer.id,
            OtpChallenge.consumed_at.is_(None),
            OtpChallenge.superseded_at.is_(None),
        )
        .values(superseded_at=now)
    )
    code = generate_code()
    session.add(
        OtpChallenge(
            shop_id=buyer.shop_id,
            buyer_id=buyer.id,
            code_hmac=code_hmac(key, buyer.id, code),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_seconds),
            phone=phone,
        )
    )
    session.flush()
    return code


class Verdict(str, enum.Enum):
    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"
    USED = "used"
    LOCKED = "locked"
    NO_CODE = "no_code"


@dataclass(frozen=True)
class Verification:
    verdict: Verdict
    attempts_left: int = 0
    # The number the code was sent to, when it was sent to prove one.
    phone: str | None = None


def verify_code(session: Session, buyer: Buyer, typed: str, *, key: str) -> Verification:
    """Check a typed code against the buyer's latest one.

    Consuming and counting failures are single conditional UPDATEs, so two submissions that
    race can never both succeed, nor exceed the attempt limit.
    """
    challenge = _latest_challenge(session, buyer)
    if challenge is None:
        return Verification(Verdict.NO_CODE)
    now = utcnow()
    if challenge.consumed_at is not None:
        return Verification(Verdict.USED)
    if challenge.failed_attempts >= MAX_FAILED_ATTEMPTS:
        return Verification(Verdict.LOCKED)
    if challenge.expires_at <= now:
        return Verification(Verdict.EXPIRED)

    usable = (
        OtpChallenge.id == challenge.id,
        OtpChallenge.consumed_at.is_(None),
        OtpChallenge.failed_attempts < MAX_FAILED_ATTEMPTS,
    )
    if hmac.compare_digest(challenge.code_hmac, code_hmac(key, buyer.id, typed)):
        consumed = session.execute(
            sa.update(OtpChallenge)
            .where(*usable, OtpChallenge.expires_at > now)
            .values(consumed_at=now)
            .execution_options(synchronize_session=False)
        )
        if consumed.rowcount != 1:
            return Verification(Verdict.USED)
        return Verification(Verdict.VERIFIED, phone=challenge.phone)

    counted = session.execute(
        sa.update(OtpChallenge)
        .where(*usable)
        .values(failed_attempts=OtpChallenge.failed_attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if counted.rowcount == 0:
        return Verification(Verdict.USED)
    session.refresh(challenge)
    left = MAX_FAILED_ATTEMPTS - challenge.failed_attempts
    verdict = Verdict.WRONG if left > 0 else Verdict.LOCKED
    return Verification(verdict, attempts_left=left, phone=challenge.phone)


def open_phone_challenge(session: Session, buyer: Buyer) -> str | None:
    """The number the buyer's latest code was sent to, while that code can still be used."""
    latest = _latest_challenge(session, buyer)
    if latest is None or latest.phone is None:
        return None
    if latest.consumed_at or latest.superseded_at or latest.expires_at <= utcnow():
        return None
    return latest.phone


def _latest_challenge(session: Session, buyer: Buyer) -> OtpChallenge | None:
    return session.execute(
        sa.select(OtpChallenge)
        .where(OtpChallenge.shop_id == buyer.shop_id, OtpChallenge.buyer_id == buyer.id)
        .order_by(OtpChallenge.created_at.desc(), OtpChallenge.id.desc())
        .limit(1)
    ).scalar_one_or_none()
