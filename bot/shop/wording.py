"""The words buyers read about an order, and the shop's responses rendered outside a turn.

Inside a conversation Rasa renders responses (``connectors.nlg``); a notification sent when an
order changes has no conversation, so it is rendered here from the same domain responses, in the
shop's tone and with the shop's own wording.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.platform.models import Order
from bot.shop.money import format_naira
from bot.shop.profile import ShopProfile, default_variants

STATUS_TEXT = {
    "pending": "waiting for your confirmation",
    "confirmed": "confirmed and being prepared",
    "shipped": "on its way to you",
    "delivered": "delivered",
    "cancelled": "cancelled",
}


def describe(order: Order) -> dict[str, Any]:
    """Placeholder values for responses about one order."""
    return {
        "order_id": order.id,
        "description": order.description,
        "amount": format_naira(order.amount_kobo),
        "status": order.status,
        "status_text": STATUS_TEXT.get(order.status, order.status),
        "updated": f"{order.updated_at:%d %b %Y, %H:%M} UTC",
    }


class _Filled(dict):
    """Placeholder values; a placeholder without one stays as written, as Rasa leaves it."""

    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


def render(
    profile: ShopProfile,
    response: str,
    values: Mapping[str, Any],
    channel: str,
    buyer_name: str | None = None,
) -> str:
    """The text of ``response`` as this shop words it on ``channel``: the shop's own variant
    for the channel if it has one, else its variant for any channel, else the domain's in the
    shop's tone; with the shop's placeholders and ``values`` filled in."""
    variants = profile.responses.get(response) or default_variants(response, profile.tone)
    chosen = next(
        (v for v in variants if v.get("channel") == channel),
        next((v for v in variants if not v.get("channel")), variants[0]),
    )
    filled = _Filled({**profile.shop_values(buyer_name), **values})
    return str(chosen["text"]).format_map(filled)


def order_buttons(order: Order, offers: Mapping[str, bool]) -> list[dict[str, str]]:
    """What a buyer can do with a new order, as buttons whose payloads are the intents the
    assistant answers (``offers``: the shop's features)."""
    choice = json.dumps({"order_id": order.id})
    buttons = [{"title": "Confirm", "payload": f"/confirm_order{choice}"}]
    if offers.get("order_cancellation"):
        buttons.append({"title": "Cancel", "payload": f"/cancel_order{choice}"})
    if offers.get("receipt_upload"):
        buttons.append({"title": "Send receipt", "payload": f"/upload_receipt{choice}"})
    return buttons
