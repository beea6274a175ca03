"""The shop registry: shops, their channel accounts, and which shop a conversation belongs to."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.models import META_CHANNELS, Channel, ChannelAccount, Shop
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


@dataclass(frozen=True)
class Speaker:
    """Who is talking to which shop, as the channel established it."""

    shop_id: str | None
    channel: str
    user_id: str


def identify(sender_id: str, input_channel: str | None, slot_shop: str | None) -> Speaker:
    """Who speaks, from what the channel established and never from what a client sent.

    A Meta channel names its conversations ``shop:channel:user`` after the signed webhook's
    account and sender; Rasa records which channel a message came in on. Anything else (the
    development REST channel, ``rasa shell``) is a REST conversation of its own sender, in the
    shop its session started in (``DEFAULT_SHOP``): message metadata sets no shop, channel or
    user, so a REST caller can never speak for a WhatsApp or Instagram buyer.
    """
    if input_channel in META_CHANNELS:
        meta = _meta_conversation(sender_id)
        if meta is not None and meta.channel == input_channel:
            return meta
    return Speaker(slot_shop or get_settings().default_shop, Channel.REST, sender_id)


def shop_of_conversation(sender_id: str, slot_shop: str | None) -> str | None:
    """The shop a conversation belongs to where the input channel is not known (session start,
    the responses): a Meta conversation's own, else the session's, else ``DEFAULT_SHOP``."""
    meta = _meta_conversation(sender_id)
    if meta is not None:
        return meta.shop_id
    return slot_shop or get_settings().default_shop


def _meta_conversation(sender_id: str) -> Speaker | None:
    try:
        shop_id, channel, user_id = parse_conversation_id(sender_id)
    except ValueError:
        return None
    return Speaker(shop_id, channel, user_id) if channel in META_CHANNELS else None


def ensure_demo_shop(session: Session) -> Shop | None:
    """Create the demo shop when there is no shop at all, so a newcomer can chat at once."""
    if session.execute(sa.select(Shop.id).limit(1)).first():
        return None
    return add_shop(session, DEMO_SHOP_ID, DEMO_SHOP_NAME)
