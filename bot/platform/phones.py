"""Phone numbers as people type them, in one shape (E.164), through Google's libphonenumber.

Owners type ``0803 123 4567``, buyers ``+234 803-123-4567``, WhatsApp sends ``2348031234567``:
all are ``+2348031234567`` here, so an order made for a number is found by whoever proves it.
"""

from __future__ import annotations

import phonenumbers

# Where a number written without a country code is dialled: the shops sell in Nigeria.
DEFAULT_REGION = "NG"


class InvalidPhone(ValueError):
    """Not a phone number that can exist; the message says what was expected."""


def normalise_phone(typed: str, region: str = DEFAULT_REGION) -> str:
    """``typed`` in E.164 (``+2348031234567``); InvalidPhone when it is not a valid number.

    Spaces, dashes, dots and brackets are allowed; a number with its country code but no ``+``
    (``2348031234567``, as WhatsApp writes it) is read as international.
    """
    text = typed.strip()
    for candidate in _readings(text):
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhone(
        "That is not a phone number I can use. Please write it as you would dial it, "
        "for example 0803 123 4567 or +234 803 123 4567."
    )


def phone_of_wa_id(wa_id: str) -> str | None:
    """The E.164 number of a WhatsApp id (its digits with the country code), None when the id
    is not a valid number (WhatsApp ids and numbers may differ)."""
    digits = wa_id.strip()
    if not digits.isdigit():
        return None
    try:
        number = phonenumbers.parse(f"+{digits}")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def wa_id_of_phone(phone: str) -> str:
    """The ``to`` of a WhatsApp send for an E.164 number: its digits."""
    return phone.lstrip("+")


def _readings(text: str) -> list[str]:
    """The number as typed, then, for digits that start with a country code but no ``+``,
    as international: ``234803…`` is Nigeria's code, not a local number starting 234."""
    readings = [text]
    digits = "".join(c for c in text if c.isdigit())
    if not text.startswith(("+", "0")) and len(digits) > 10:
        readings.insert(0, f"+{digits}")
    return readings
