"""The address form: each answer checked, kept in its usual form or asked again."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.address import ValidateAddressForm
from tests.conftest import tracker_for


@pytest.mark.parametrize(
    ("slot", "typed", "kept"),
    [
        ("address_street", "12 Allen Avenue", "12 Allen Avenue"),
        ("address_street", "no", None),
        ("address_city", "ikeja", "Ikeja"),
        ("address_city", "12345", None),
        ("address_state", "lagos state", "Lagos"),
        ("address_state", "Abuja", "FCT"),
        ("address_state", "London", None),
        ("address_phone", "0803 123 4567", "+2348031234567"),
        ("address_phone", "+234 (0)803", None),
    ],
)
async def test_the_address_form_checks_each_answer(slot: str, typed: str, kept) -> None:
    form = ValidateAddressForm()
    tracker = tracker_for("ada", typed, slots={slot: typed, "requested_slot": slot})
    tracker.active_loop = {"name": "address_form"}
    dispatcher = CollectingDispatcher()
    validate = getattr(form, f"validate_{slot}")
    assert validate(typed, dispatcher, tracker, {}) == {slot: kept}
    assert [m["response"] for m in dispatcher.messages] == (
        [] if kept else [f"utter_invalid_{slot}"]
    )
