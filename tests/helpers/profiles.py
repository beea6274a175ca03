"""Shops with their owners' settings and own wording, saved as the CLI saves them."""

from __future__ import annotations

import yaml

from bot.platform import db
from bot.platform.models import Shop
from bot.shop import profile as shop_profile
from tests.conftest import make_shop


def set_up(shop_id: str, name: str, **settings) -> None:
    """A new shop with the owner's settings."""
    make_shop(shop_id, name)
    configure(shop_id, **settings)


def configure(shop_id: str, **settings) -> None:
    """The owner changes the shop's settings (``python -m bot shop settings``)."""
    with db.session_scope() as session:
        shop_profile.update_settings(session.get(Shop, shop_id), **settings)


def import_responses(shop_id: str, document: dict) -> list:
    with db.session_scope() as session:
        return shop_profile.import_responses(
            session, session.get(Shop, shop_id), yaml.safe_dump(document, sort_keys=False)
        )
