"""The delivery address form (shops with address_collection on): each answer checked as typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.shop.addresses import normalize_city, normalize_phone, normalize_state, normalize_street

ADDRESS_SLOTS = ("address_street", "address_city", "address_state", "address_phone")


def _check(
    slot: str, normalize: Callable[[str], str | None], invalid_reply: str
) -> Callable[..., dict[str, Any]]:
    """A validate_<slot> method: keep the normalised answer, or say why it is refused."""

    def validate(
        self: FormValidationAction,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> dict[str, Any]:
        normalized = normalize(str(value or ""))
        if normalized is None:
            dispatcher.utter_message(response=invalid_reply)
        return {slot: normalized}

    return validate


class ValidateAddressForm(FormValidationAction):
    def name(self) -> str:
        return "validate_address_form"

    validate_address_street = _check(
        "address_street", normalize_street, "utter_invalid_address_street"
    )
    validate_address_city = _check("address_city", normalize_city, "utter_invalid_address_city")
    validate_address_state = _check("address_state", normalize_state, "utter_invalid_address_state")
    validate_address_phone = _check("address_phone", normalize_phone, "utter_invalid_address_phone")
