"""Amounts are integers in kobo; buyers and owners see Naira."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def format_naira(kobo: int) -> str:
    """``2500000`` → ``₦25,000.00``."""
    naira, remainder = divmod(int(kobo), 100)
    return f"₦{naira:,}.{remainder:02d}"


def parse_naira(text: str) -> int:
    """``"25,000.50"`` or ``"₦25000"`` → kobo. Raises ValueError on anything else."""
    cleaned = text.strip().replace("₦", "").replace(",", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not an amount in Naira: {text!r}") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"not a positive amount with at most 2 decimals: {text!r}")
    return int(amount * 100)
