"""Nigerian delivery addresses: what buyers type, checked and put in one shape."""

from __future__ import annotations

import re

from bot.platform.phones import InvalidPhone, normalise_phone

STATES = (
    "Abia", "Adamawa", "Akwa Ibom", "Anambra", "Bauchi", "Bayelsa", "Benue", "Borno",
    "Cross River", "Delta", "Ebonyi", "Edo", "Ekiti", "Enugu", "Gombe", "Imo", "Jigawa",
    "Kaduna", "Kano", "Katsina", "Kebbi", "Kogi", "Kwara", "Lagos", "Nasarawa", "Niger", "Ogun",
    "Ondo", "Osun", "Oyo", "Plateau", "Rivers", "Sokoto", "Taraba", "Yobe", "Zamfara", "FCT",
)  # fmt: skip
_ALIASES = {
    "abuja": "FCT",
    "federal capital territory": "FCT",
    "fct abuja": "FCT",
    "nassarawa": "Nasarawa",
    "akwa-ibom": "Akwa Ibom",
    "akwaibom": "Akwa Ibom",
    "cross-river": "Cross River",
    "crossriver": "Cross River",
}
_BY_NAME = {state.lower(): state for state in STATES}


def normalize_state(typed: str) -> str | None:
    """``"lagos state"`` → ``"Lagos"``, ``"Abuja"`` → ``"FCT"``; not a state → None."""
    name = re.sub(r"\s+", " ", typed.strip().lower().rstrip("."))
    name = re.sub(r"\s+state$", "", name)
    return _BY_NAME.get(name) or _ALIASES.get(name)


def normalize_phone(typed: str) -> str | None:
    """A phone number in any usual spelling (Nigerian by default) → E.164; else None."""
    try:
        return normalise_phone(typed)
    except InvalidPhone:
        return None


def normalize_street(typed: str) -> str | None:
    """A street line needs some letters and enough length to find the house."""
    street = re.sub(r"\s+", " ", typed.strip())
    if len(street) < 5 or len(street) > 200 or not re.search(r"[A-Za-z]{2}", street):
        return None
    return street


def normalize_city(typed: str) -> str | None:
    city = re.sub(r"\s+", " ", typed.strip())
    if not re.fullmatch(r"[A-Za-z][A-Za-z .'-]{1,49}", city):
        return None
    return city.title()


def format_address(address: dict[str, str]) -> str:
    return f"{address['street']}, {address['city']}, {address['state']} ({address['phone']})"
