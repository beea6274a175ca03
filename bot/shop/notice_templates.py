"""What buyers and owners are told about orders, and the shop's approved WhatsApp templates that
carry it outside the 24-hour customer service window.

Each kind of notification may have one template per shop: its name and language in WhatsApp
Manager, and which fields fill the template body's parameters, in order (``{{1}}``, ``{{2}}``…).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.platform.models import Shop
from bot.shop.profile import ProfileError, check_template

SETTINGS_KEY = "notice_templates"


class NoticeKind(str, enum.Enum):
    # To the buyer
    ORDER_CREATED = "order_created"
    ORDER_SHIPPED = "order_shipped"
    ORDER_DELIVERED = "order_delivered"
    ORDER_CANCELLED = "order_cancelled"
    # To the shop's owners
    OWNER_ORDER_CONFIRMED = "owner_order_confirmed"
    OWNER_ORDER_CANCELLED = "owner_order_cancelled"
    OWNER_RECEIPT_RECEIVED = "owner_receipt_received"

    @property
    def for_owners(self) -> bool:
        return self.value.startswith("owner_")


# What a template's parameters can be filled with; every notification has a value for each.
FIELDS = (
    "order_id",
    "amount",
    "description",
    "status",
    "reference",
    "reason",
    "address",
    "verdict",
    "buyer",
    "shop_name",
)
# Meta allows at most this many body parameters in a template we fill.
MAX_PARAMETERS = 10


@dataclass(frozen=True)
class NoticeTemplate:
    name: str
    language: str = "en"
    parameters: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "language": self.language, "parameters": list(self.parameters)}


def templates_of(shop: Shop) -> dict[NoticeKind, NoticeTemplate]:
    stored = (shop.settings or {}).get(SETTINGS_KEY) or {}
    found: dict[NoticeKind, NoticeTemplate] = {}
    for kind in NoticeKind:
        entry = stored.get(kind.value)
        if isinstance(entry, Mapping) and entry.get("name"):
            found[kind] = NoticeTemplate(
                str(entry["name"]),
                str(entry.get("language") or "en"),
                tuple(str(field) for field in entry.get("parameters") or ()),
            )
    return found


def parse_kind(name: str) -> NoticeKind:
    try:
        return NoticeKind(name)
    except ValueError:
        kinds = ", ".join(kind.value for kind in NoticeKind)
        raise ProfileError(f"no notification {name!r} (notifications: {kinds})") from None


def checked(name: str, language: str, parameters: Sequence[str]) -> NoticeTemplate:
    """A template as given, or ProfileError saying what is wrong with it."""
    check_template(name, language)
    unknown = [field for field in parameters if field not in FIELDS]
    if unknown:
        raise ProfileError(
            f"unknown template field(s) {', '.join(unknown)}; fields: {', '.join(FIELDS)}"
        )
    if len(parameters) > MAX_PARAMETERS:
        raise ProfileError(f"a template takes at most {MAX_PARAMETERS} fields")
    return NoticeTemplate(name, language, tuple(parameters))


def set_templates(shop: Shop, changes: Mapping[NoticeKind, NoticeTemplate | None]) -> None:
    """Set (or, with None, remove) the shop's template of each kind given."""
    settings = dict(shop.settings or {})
    stored = dict(settings.get(SETTINGS_KEY) or {})
    for kind, template in changes.items():
        if template is None:
            stored.pop(kind.value, None)
        else:
            stored[kind.value] = template.as_json()
    settings[SETTINGS_KEY] = stored
    shop.settings = settings


def describe_templates(shop: Shop) -> list[str]:
    templates = templates_of(shop)
    lines = []
    for kind in NoticeKind:
        template = templates.get(kind)
        if template is None:
            lines.append(f"template {kind.value}: none")
        else:
            fields = ", ".join(template.parameters) or "no fields"
            lines.append(
                f"template {kind.value}: {template.name} ({template.language}) with {fields}"
            )
    return lines
