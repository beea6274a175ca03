"""A shop's owners: the WhatsApp numbers (E.164) that are told of confirmations, cancellations
and receipts, and whose messages to the shop are commands, not a buyer's."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from bot.platform.models import Shop
from bot.platform.phones import InvalidPhone, normalise_phone, phone_of_wa_id
from bot.shop.profile import ProfileError

SETTINGS_KEY = "owner_whatsapp"
MAX_OWNERS = 10


def owner_numbers(shop: Shop) -> list[str]:
    return [str(number) for number in (shop.settings or {}).get(SETTINGS_KEY) or []]


def checked_numbers(typed: Iterable[str]) -> list[str]:
    """The numbers in E.164, each once; ProfileError naming the first that is not a number."""
    numbers: list[str] = []
    for number in typed:
        try:
            phone = normalise_phone(number)
        except InvalidPhone as error:
            raise ProfileError(f"owner number {number!r}: {error}") from None
        if phone not in numbers:
            numbers.append(phone)
    if len(numbers) > MAX_OWNERS:
        raise ProfileError(f"a shop has at most {MAX_OWNERS} owner numbers")
    return numbers


def set_owner_numbers(shop: Shop, numbers: list[str]) -> None:
    """Replace the owners' numbers (already checked)."""
    shop.settings = {**(shop.settings or {}), SETTINGS_KEY: numbers}


def owner_of(session: Session, shop_id: str, wa_id: str | None) -> str | None:
    """The owner's number (E.164) when the WhatsApp id ``wa_id`` is one of the shop's owners."""
    phone = phone_of_wa_id(wa_id) if wa_id else None
    shop = session.get(Shop, shop_id) if phone else None
    return phone if shop is not None and phone in owner_numbers(shop) else None
