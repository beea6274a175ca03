"""The shop registry: shops, their channel accounts, and which shop a conversation belongs to."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.models import Channel, ChannelAccount, Shop
from bot.platform.settings import get_settings

SHOP_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
DEMO_SHOP_ID = "demo-shop"
DEMO_SHOP_NAME = "Ada's Fabrics (demo)"


class ShopError(ValueError):
    """A shop cannot be created or changed as asked; the message says why."""


def get_shop(session: Session, shop_id: str) -> Shop | None:
    return session.get(Shop, shop_id)


def list_shops(session: Session) -> list[Shop]:
    return list(session.execute(sa.select(Shop).order_by(Shop.id)).scalars())


def add_shop(
    session: Session,
    shop_id: str,
    name: str,
    *,
    whatsapp_phone_id: str | None = None,
    instagram_account_id: str | None = None,
) -> Shop:
    if not SHOP_ID_RE.match(shop_id):
        raise ShopError(f"shop id {shop_id!r} must be 2-63 lower-case letters, digits or dashes")
    if not name.strip():
        raise ShopError("shop name must not be empty")
    if get_shop(session, shop_id):
        raise ShopError(f"shop {shop_id!r} already exists")
    shop = Shop(id=shop_id, name=name.strip(), settings={})
    session.add(shop)
    for channel, account_id in (
        (Channel.WHATSAPP, whatsapp_phone_id),
        (Channel.INSTAGRAM, instagram_account_id),
    ):
        if account_id:
            link_account(session, shop, channel, account_id)
    session.flush()
    return shop


def link_account(session: Session, shop: Shop, channel: str, account_id: str) -> None:
    owner = shop_for_account(session, channel, account_id)
    if owner is not None and owner.id != shop.id:
        raise ShopError(f"{channel} account {account_id} already belongs to shop {owner.id!r}")
    if owner is None:
        session.add(ChannelAccount(shop_id=shop.id, channel=channel, account_id=account_id))


def shop_for_account(session: Session, channel: str, account_id: str) -> Shop | None:
    return session.execute(
        sa.select(Shop)
        .join(ChannelAccount, ChannelAccount.shop_id == Shop.id)
        .where(ChannelAccount.channel == channel, ChannelAccount.account_id == account_id)
    ).scalar_one_or_none()


def account_of_shop(session: Session, shop_id: str, channel: str) -> str | None:
    """The shop's account on a channel: the one connected last, whose token is the current one."""
    return session.execute(
        sa.select(ChannelAccount.account_id)
        .where(ChannelAccount.shop_id == shop_id, ChannelAccount.channel == channel)
        .order_by(ChannelAccount.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def conversation_id(shop_id: str, channel: str, user_id: str) -> str:
    """Rasa's sender id: one person buying from two shops has two separate conversations."""
    return f"{shop_id}:{channel}:{user_id}"


def parse_conversation_id(sender_id: str) -> tuple[str, str, str]:
    """``shop:channel:user`` → its parts; ValueError for any other sender id."""
    shop_id, channel, user_id = sender_id.split(":", 2)
    if not (shop_id and channel and user_id):
        raise ValueError(f"not a shop conversation id: {sender_id!r}")
    return shop_id, channel, user_id


def resolve_shop_id(
    metadata: Mapping[str, Any] | None, slot: str | None, sender_id: str
) -> str | None:
    """Which shop a conversation belongs to, in one order everywhere (actions, session start,
    responses): what the channel said in the message metadata, else the ``shop_id`` slot set at
    session start, else the shop of a ``shop:channel:user`` sender id, else ``DEFAULT_SHOP``."""
    named = (metadata or {}).get("shop_id") or slot
    if named:
        return str(named)
    try:
        return parse_conversation_id(sender_id)[0]
    except ValueError:
        return get_settings().default_shop


def ensure_demo_shop(session: Session) -> Shop | None:
    """Create the demo shop when there is no shop at all, so a newcomer can chat at once."""
    if session.execute(sa.select(Shop.id).limit(1)).first():
        return None
    return add_shop(session, DEMO_SHOP_ID, DEMO_SHOP_NAME)
