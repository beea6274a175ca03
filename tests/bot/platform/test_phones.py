"""Phone numbers as Nigerian owners and buyers type them, all in one shape (E.164)."""

from __future__ import annotations

import pytest

from bot.platform.phones import InvalidPhone, normalise_phone, phone_of_wa_id, wa_id_of_phone

ADA = "+2348031234567"


@pytest.mark.parametrize(
    "typed",
    [
        "08031234567",
        "0803 123 4567",
        "0803-123-4567",
        "(0803) 123 4567",
        "0803.123.4567",
        "+2348031234567",
        "+234 803 123 4567",
        "+234 (803) 123-4567",
        "+234-803-123-4567",
        "2348031234567",
        "234 803 123 4567",
        "8031234567",
        "  0803 123 4567  ",
    ],
)
def test_every_usual_spelling_of_a_nigerian_mobile_is_the_same_number(typed):
    assert normalise_phone(typed) == ADA


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0701 234 5678", "+2347012345678"),  # Airtel
        ("0905 123 4567", "+2349051234567"),  # 9mobile era prefixes
        ("0812 345 6789", "+2348123456789"),
        ("0201 234 5678", "+2342012345678"),  # a Lagos landline
        ("+44 20 7946 0958", "+442079460958"),  # a number from abroad, with its code
        ("+1 650 555 1234", "+16505551234"),
    ],
)
def test_other_valid_numbers_keep_their_own_country(typed, expected):
    assert normalise_phone(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "hello",
        "0803 123 456",  # a digit short
        "0803 123 45678",  # a digit too many
        "234803123456",  # country code, a digit short
        "+234 000 000 0000",
        "12345",
        "ORD-7F3K9Q",
        "0803 123 4567 ext",
    ],
)
def test_what_is_not_a_valid_number_is_refused_with_an_example(typed):
    with pytest.raises(InvalidPhone) as refused:
        normalise_phone(typed)
    assert "0803 123 4567" in str(refused.value)


def test_a_whatsapp_id_is_its_number_with_the_country_code():
    assert phone_of_wa_id("2348031234567") == ADA
    assert wa_id_of_phone(ADA) == "2348031234567"


@pytest.mark.parametrize("wa_id", ["", "NG.8462019375510", "15550001234", "234803"])
def test_a_whatsapp_id_that_is_not_a_valid_number_has_no_phone(wa_id):
    assert phone_of_wa_id(wa_id) is None
