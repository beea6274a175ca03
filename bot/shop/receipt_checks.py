"""The checks every receipt gets, however it arrived, before the shop owner looks at it.

- reused: the very same file (SHA-256) is attached to another order, in this shop or another;
- similar: it looks like an earlier receipt (a perceptual hash, robust to re-screenshots,
  crops, resizing and recompression) and what was read from both does not tell them apart;
- amount: what the receipt says against the order: match, mismatch or unreadable;
- dated before the order: the transfer happened before the order was made.

Another shop's receipt is only ever "seen before": its shop and order are never named. The
buyer is told none of this.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import hashlib
from dataclasses import dataclass
from typing import Any

import imagehash
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.models import Order, Receipt, ReceiptStatus
from bot.shop.money import format_naira
from bot.shop.receipt_reading import Reading, open_image, read_receipt, reference_key

# Bits (of 64) two perceptual hashes may differ by and still be one picture: re-screenshots of
# the generated corpus differ by up to 16 (python -m bench.receipt_checks, docs/benchmarks.md).
# Distinct receipts of one bank app come as close (0), so the hash only finds candidates and
# what was read from both decides.
PHASH_MAX_DISTANCE = 18
# Two references read by OCR from pictures of one transfer differ by a misread character or
# two; references of different transfers share far less.
SAME_REFERENCE_RATIO = 0.8


class AmountCheck(str, enum.Enum):
    MATCH = "match"
    MISMATCH = "mismatch"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Fingerprint:
    """What is known of a file by itself, before it meets an order."""

    sha256: str
    phash: str | None
    reading: Reading

    def columns(self) -> dict[str, Any]:
        """The receipt row's columns that hold it."""
        return {
            "sha256": self.sha256,
            "phash": self.phash,
            "amount_read_kobo": self.reading.amount_kobo,
            "paid_on": self.reading.paid_on,
            "paid_time": self.reading.paid_time,
            "reference": self.reading.reference,
        }


def fingerprint(content: bytes, content_type: str) -> Fingerprint:
    """Hashes and reading of a file: slow (OCR), so call it off the event loop."""
    phash = None
    if content_type.startswith("image/"):
        image = open_image(content)
        phash = str(imagehash.phash(image)) if image is not None else None
    return Fingerprint(
        sha256=hashlib.sha256(content).hexdigest(),
        phash=phash,
        reading=read_receipt(content, content_type),
    )


@dataclass(frozen=True)
class Verdict:
    """What the checks found; ``reused_order`` and ``similar_order`` name an order only when
    it is the same shop's."""

    amount: AmountCheck
    amount_expected_kobo: int
    amount_read_kobo: int | None = None
    paid_on: str | None = None
    reference: str | None = None
    reused: bool = False
    reused_order: str | None = None
    similar: bool = False
    similar_order: str | None = None
    dated_before_order: bool = False

    @property
    def flagged(self) -> bool:
        """The owner should look before trusting it (unreadable amounts included)."""
        return (
            self.reused
            or self.similar
            or self.dated_before_order
            or self.amount is not AmountCheck.MATCH
        )

    def as_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "amount": self.amount.value}

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> Verdict:
        return cls(**{**stored, "amount": AmountCheck(stored["amount"])})

    def describe(self) -> str:
        """One line for the owner, worst news first."""
        notes: list[str] = []
        if self.reused:
            notes.append(_seen_before("the same file", self.reused_order))
        if self.similar:
            notes.append(_seen_before("looks like an earlier receipt", self.similar_order))
        expected = format_naira(self.amount_expected_kobo)
        if self.amount is AmountCheck.MISMATCH and self.amount_read_kobo is not None:
            read = format_naira(self.amount_read_kobo)
            notes.append(f"amount MISMATCH: receipt says {read}, order is {expected}")
        elif self.amount is AmountCheck.UNREADABLE:
            notes.append("amount unreadable: check it yourself")
        else:
            notes.append(f"amount matches {expected}")
        if self.dated_before_order:
            notes.append(f"dated {self.paid_on}, BEFORE the order was made")
        verdict = "FLAGGED" if self.flagged else "ok"
        return f"{verdict}: " + "; ".join(notes)


def _seen_before(what: str, order_id: str | None) -> str:
    return f"{what}, seen before on {order_id}" if order_id else f"{what}, seen before"


def judge(session: Session, receipt: Receipt, order: Order) -> Verdict:
    """The checks of ``receipt`` (its fingerprint columns filled) as a receipt of ``order``,
    against every receipt attached to another order, in any shop."""
    mine = stored_fingerprint(receipt)
    reused_by, similar_to = _earlier_matches(session, mine, receipt.id, order)
    reading = mine.reading
    return Verdict(
        amount=_amount_check(reading.amount_kobo, order.amount_kobo),
        amount_expected_kobo=order.amount_kobo,
        amount_read_kobo=reading.amount_kobo,
        paid_on=reading.paid_on.isoformat() if reading.paid_on else None,
        reference=reading.reference,
        reused=reused_by is not None,
        reused_order=_nameable(reused_by, receipt.shop_id),
        similar=similar_to is not None,
        similar_order=_nameable(similar_to, receipt.shop_id),
        dated_before_order=bool(reading.paid_on and reading.paid_on < order.created_at.date()),
    )


def stored_fingerprint(row: Any) -> Fingerprint:
    """The fingerprint kept in a receipt row (or a row of its columns)."""
    reading = Reading(row.amount_read_kobo, row.paid_on, row.reference, row.paid_time)
    return Fingerprint(row.sha256, row.phash, reading)


def _amount_check(read: int | None, expected: int) -> AmountCheck:
    if read is None:
        return AmountCheck.UNREADABLE
    return AmountCheck.MATCH if read == expected else AmountCheck.MISMATCH


def _nameable(match: sa.Row | None, shop_id: str) -> str | None:
    return match.order_id if match is not None and match.shop_id == shop_id else None


def _earlier_matches(
    session: Session, mine: Fingerprint, receipt_id: int | None, order: Order
) -> tuple[sa.Row | None, sa.Row | None]:
    """The earliest attached receipt of another order with the same file, and the earliest
    one that is another picture of the same transfer. Perceptual hashes cannot be indexed in
    SQL: every attached picture's hash is compared here (microseconds each)."""
    conditions = [Receipt.sha256 == mine.sha256]
    if mine.phash:
        conditions.append(Receipt.phash.is_not(None))
    earlier = session.execute(
        sa.select(
            Receipt.shop_id,
            Receipt.order_id,
            Receipt.sha256,
            Receipt.phash,
            Receipt.amount_read_kobo,
            Receipt.paid_on,
            Receipt.paid_time,
            Receipt.reference,
        )
        .where(
            Receipt.status == ReceiptStatus.RECEIVED.value,
            Receipt.id != receipt_id,
            Receipt.order_id != order.id,
            sa.or_(*conditions),
        )
        .order_by(Receipt.id)
    ).all()
    reused = next((row for row in earlier if row.sha256 == mine.sha256), None)
    similar = next((row for row in earlier if alike(mine, stored_fingerprint(row))), None)
    return reused, similar


def phash_distance(one: str, other: str) -> int:
    """Bits in which two perceptual hashes (hex) differ."""
    return int(imagehash.hex_to_hash(one) - imagehash.hex_to_hash(other))


def alike(one: Fingerprint, other: Fingerprint) -> bool:
    """Two different files showing the same transfer: their pictures look alike, and nothing
    read from them tells them apart."""
    if not (one.phash and other.phash) or one.sha256 == other.sha256:
        return False
    return phash_distance(one.phash, other.phash) <= PHASH_MAX_DISTANCE and same_transfer(
        one.reading, other.reading
    )


def same_transfer(one: Reading, other: Reading) -> bool:
    """Nothing read from two look-alike receipts tells them apart: a re-screenshot of one
    transfer, not two transfers shown by the same bank app (which look alike to any hash).

    References decide when both were read, allowing a misread character or two; when they
    differ more, only the same amount at the same minute of the same day still makes one
    transfer (OCR garbled a reference). Otherwise any amount, day or time read differently
    makes two.
    """
    if one.reference and other.reference:
        ratio = difflib.SequenceMatcher(
            None, reference_key(one.reference), reference_key(other.reference)
        ).ratio()
        return ratio >= SAME_REFERENCE_RATIO or _same_moment_and_amount(one, other)
    return not any(
        mine is not None and theirs is not None and mine != theirs
        for mine, theirs in (
            (one.amount_kobo, other.amount_kobo),
            (one.paid_on, other.paid_on),
            (one.paid_time, other.paid_time),
        )
    )


def _same_moment_and_amount(one: Reading, other: Reading) -> bool:
    return (
        one.amount_kobo is not None
        and one.paid_on is not None
        and one.paid_time is not None
        and (one.amount_kobo, one.paid_on, one.paid_time)
        == (other.amount_kobo, other.paid_on, other.paid_time)
    )
