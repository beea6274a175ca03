"""One-time codes: generation, storage as an HMAC, limits on issuing them, and verification that
is single-use, with wrong codes counted per buyer across resends.

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
RESEND_INTERVAL = dt.timedelta(seconds=60)
MAX_CODES_PER_HOUR = 5
# Wrong codes a buyer may type, across all of their codes, before a cool-down; each further
# cool-down lasts longer, up to the last. A day without a wrong code (counted from the end of the
# latest cool-down) forgets them all.
MAX_FAILED_ATTEMPTS = 5
COOL_DOWNS = tuple(dt.timedelta(minutes=minutes) for minutes in (5, 15, 60, 4 * 60, 24 * 60))
FORGET_AFTER = dt.timedelta(hours=24)


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


class Limit(str, enum.Enum):
    """Why no code may be issued now."""

    RESEND_INTERVAL = "resend_interval"
    HOURLY = "hourly"
    COOLING_DOWN = "cooling_down"


class IssueRefused(Exception):
    """No code now; ``retry_after`` says when the next one may be issued, ``limit`` why not."""

    def __init__(self, retry_after: dt.timedelta, limit: Limit) -> None:
        super().__init__(f"{limit.value}: retry after {int(retry_after.total_seconds())} s")
        self.retry_after = retry_after
        self.limit = limit


def issue_code(
    session: Session, buyer: Buyer, *, key: str, ttl_seconds: int, phone: str | None = None
) -> str:
    """Issue a fresh code for the buyer, superseding the previous one. Returns the plain code.

    With ``phone`` the code is to be sent to that number: typed back, it proves the number is the
    buyer's. A code of each kind may follow one of the other at once (a buyer just verified in
    the chat may link their number), but not one of its own kind within a minute, and both kinds
    count towards the hourly limit, so sending codes to numbers cannot be abused either.
    Runs under the buyer's lock (``_locked``), so two resends that race are checked one after
    the other against the limits: never both issued.
    """
    buyer = _locked(session, buyer)
    now = utcnow()
    if buyer.code_locked_until is not None and buyer.code_locked_until > now:
        raise IssueRefused(buyer.code_locked_until - now, Limit.COOLING_DOWN)
    recent = session.execute(
        sa.select(OtpChallenge.created_at, OtpChallenge.phone.is_not(None))
        .where(
            OtpChallenge.shop_id == buyer.shop_id,
            OtpChallenge.buyer_id == buyer.id,
            OtpChallenge.created_at > now - dt.timedelta(hours=1),
        )
        .order_by(OtpChallenge.created_at.desc())
    ).all()
    same_kind = [created for created, to_phone in recent if to_phone == (phone is not None)]
    if same_kind and now - same_kind[0] < RESEND_INTERVAL:
        raise IssueRefused(RESEND_INTERVAL - (now - same_kind[0]), Limit.RESEND_INTERVAL)
    if len(recent) >= MAX_CODES_PER_HOUR:
        raise IssueRefused(recent[-1].created_at + dt.timedelta(hours=1) - now, Limit.HOURLY)

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
    # This wrong code was the last try: the buyer's cool-down starts now.
    LOCKED_OUT = "locked_out"
    # The buyer is in a cool-down: the code typed was not even looked at.
    COOLING_DOWN = "cooling_down"
    # The code was blocked when a cool-down started; only a new one can verify.
    LOCKED = "locked"
    EXPIRED = "expired"
    USED = "used"
    NO_CODE = "no_code"


@dataclass(frozen=True)
class Verification:
    verdict: Verdict
    attempts_left: int = 0
    # The number the code was sent to, when it was sent to prove one.
    phone: str | None = None
    # With LOCKED_OUT and COOLING_DOWN: how long until the buyer may try again.
    retry_after: dt.timedelta | None = None


def verify_code(session: Session, buyer: Buyer, typed: str, *, key: str) -> Verification:
    """Check a typed code against the buyer's latest one.

    Runs under the buyer's lock (``_locked``), so submissions that race are checked one after
    the other: a code verifies once, and no wrong code goes uncounted.
    """
    buyer = _locked(session, buyer)
    now = utcnow()
    if buyer.code_locked_until is not None and buyer.code_locked_until > now:
        return Verification(Verdict.COOLING_DOWN, retry_after=buyer.code_locked_until - now)
    challenge = _latest_challenge(session, buyer)
    if challenge is None:
        return Verification(Verdict.NO_CODE)
    if challenge.consumed_at is not None:
        return Verification(Verdict.USED)
    if challenge.superseded_at is not None:
        # A newer code supersedes all others, so the latest one was blocked by a cool-down.
        return Verification(Verdict.LOCKED)
    if challenge.expires_at <= now:
        return Verification(Verdict.EXPIRED)
    if hmac.compare_digest(challenge.code_hmac, code_hmac(key, buyer.id, typed)):
        challenge.consumed_at = now
        return Verification(Verdict.VERIFIED, phone=challenge.phone)
    challenge.failed_attempts += 1
    return _count_failure(buyer, challenge, now)


def _count_failure(buyer: Buyer, challenge: OtpChallenge, now: dt.datetime) -> Verification:
    """One more wrong code for the buyer; the last try starts a cool-down and blocks the code."""
    moments = (buyer.code_failed_at, buyer.code_locked_until)
    latest = max((moment for moment in moments if moment is not None), default=None)
    if latest is not None and now - latest >= FORGET_AFTER:
        buyer.code_failures = buyer.code_lockouts = 0
    buyer.code_failed_at = now
    buyer.code_failures += 1
    if buyer.code_failures < MAX_FAILED_ATTEMPTS:
        return Verification(Verdict.WRONG, attempts_left=MAX_FAILED_ATTEMPTS - buyer.code_failures)
    cool_down = COOL_DOWNS[min(buyer.code_lockouts, len(COOL_DOWNS) - 1)]
    buyer.code_failures = 0
    buyer.code_lockouts += 1
    buyer.code_locked_until = now + cool_down
    challenge.superseded_at = now
    return Verification(Verdict.LOCKED_OUT, retry_after=cool_down)


def _locked(session: Session, buyer: Buyer) -> Buyer:
    """The buyer's row, read again once this transaction holds its lock.

    An UPDATE locks the row until the transaction ends, on PostgreSQL, and the whole database on
    SQLite (which has no SELECT ... FOR UPDATE); the read that follows sees what any transaction
    that held the lock before committed. Whatever decides about a buyer's codes thus runs one
    transaction at a time.
    """
    session.execute(
        sa.update(Buyer)
        .where(Buyer.id == buyer.id)
        .values(code_failures=Buyer.code_failures)
        .execution_options(synchronize_session=False)
    )
    return session.execute(
        sa.select(Buyer).where(Buyer.id == buyer.id).execution_options(populate_existing=True)
    ).scalar_one()


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
