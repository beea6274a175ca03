"""Notifications speak the domain's words outside a turn: a response for every buyer's kind, in
the shop's tone, the shop's own wording first, and only placeholders a notification fills."""

from __future__ import annotations

import string

from bot.shop.notice_templates import FIELDS, NoticeKind
from bot.shop.profile import SHOP_PLACEHOLDERS, ShopProfile, domain_responses
from bot.shop.wording import render

VALUES = {field: f"<{field}>" for field in FIELDS if field != "shop_name"}


def test_every_buyers_notification_has_a_response_it_can_fill() -> None:
    for kind in NoticeKind:
        if kind.for_owners:
            continue
        variants = domain_responses()[f"utter_notice_{kind.value}"]
        for variant in variants:
            names = {n for _, n, _, _ in string.Formatter().parse(variant["text"]) if n}
            assert names <= set(FIELDS) | SHOP_PLACEHOLDERS, (kind, names - set(FIELDS))


def test_the_shops_tone_then_its_own_words_then_its_channel_variant() -> None:
    profile = ShopProfile(shop_id="kemi", name="Kemi's Closet", tone="casual")
    casual = render(profile, "utter_notice_order_shipped", VALUES, "whatsapp")
    assert casual == "🚚 Your order <order_id> (<description>) don comot, e dey come meet you!"
    own = {
        "utter_notice_order_shipped": [
            {"text": "{shop_name}: {order_id} don leave."},
            {"text": "IG: {order_id} shipped", "channel": "instagram"},
        ]
    }
    profile = ShopProfile(shop_id="kemi", name="Kemi's Closet", responses=own)
    assert render(profile, "utter_notice_order_shipped", VALUES, "whatsapp") == (
        "Kemi's Closet: <order_id> don leave."
    )
    assert render(profile, "utter_notice_order_shipped", VALUES, "instagram") == (
        "IG: <order_id> shipped"
    )
