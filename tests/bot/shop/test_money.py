"""Amounts are kobo inside, Naira with thousands separators outside."""

import pytest

from bot.shop.money import format_naira, parse_naira


@pytest.mark.parametrize(
    ("kobo", "shown"),
    [
        (2500000, "₦25,000.00"),
        (2500050, "₦25,000.50"),
        (100000000, "₦1,000,000.00"),
        (100, "₦1.00"),
        (99, "₦0.99"),
        (5, "₦0.05"),
        (1, "₦0.01"),
        (0, "₦0.00"),
        (123456789, "₦1,234,567.89"),
    ],
)
def test_format_naira(kobo, shown):
    assert format_naira(kobo) == shown


@pytest.mark.parametrize(
    ("typed", "kobo"),
    [
        ("25000", 2500000),
        ("25,000", 2500000),
        ("25,000.50", 2500050),
        ("25000.5", 2500050),
        ("₦1,000", 100000),
        ("₦25000", 2500000),
        ("  ₦1,000.00  ", 100000),
        ("0.01", 1),
        ("1", 100),
    ],
)
def test_parse_naira_accepts_ordinary_amounts(typed, kobo):
    assert parse_naira(typed) == kobo


@pytest.mark.parametrize(
    "typed",
    ["abc", "", "₦", "0", "0.00", "-5", "-0.01", "1.234", "0.001", "nan", "NaN", "inf", "-inf"],
)
def test_parse_naira_rejects_non_amounts(typed):
    with pytest.raises(ValueError):
        parse_naira(typed)


@pytest.mark.parametrize("kobo", [1, 99, 100, 2500050, 123456789])
def test_parse_reads_back_what_format_shows(kobo):
    assert parse_naira(format_naira(kobo)) == kobo
