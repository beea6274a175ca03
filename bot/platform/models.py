"""The app's tables. Every shop-owned row carries a non-null ``shop_id``; queries filter on it."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeMeta, registry, relationship

_registry = registry()


class Base(metaclass=DeclarativeMeta):
    """The declarative base, spelled as a class so that type checkers see one."""

    __abstract__ = True
    registry = _registry
    metadata = _registry.metadata
    __init__ = _registry.constructor


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Channel(str, enum.Enum):
    """Where a buyer talks to a shop. A member is its value wherever it goes (the database, JSON,
    Rasa's metadata, log lines), so it stands in for the string everywhere."""

    WHATSAPP = "whatsapp"
    INSTAGRAM = "instagram"
    REST = "rest"  # Rasa's REST channel and ``rasa shell``

    def __str__(self) -> str:
        return self.value


# The channels of Meta's platform: buyers send photos and files in the chat itself.
META_CHANNELS = frozenset({Channel.WHATSAPP, Channel.INSTAGRAM})


class OrderStatus(str, enum.Enum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class ReceiptStatus(str, enum.Enum):
    INCOMING = "incoming"  # sent in the chat and stored, not yet attached to an order
    RECEIVED = "received"  # attached to its order and checked


class ReceiptSource(str, enum.Enum):
    CHAT = "chat"  # a photo or PDF sent in a WhatsApp or Instagram chat
    LINK = "link"  # uploaded through the upload page


class Shop(Base):
    __tablename__ = "shops"

    id = sa.Column(sa.String(64), primary_key=True)
    name = sa.Column(sa.String(200), nullable=False)
    settings = sa.Column(sa.JSON, nullable=False, default=dict)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)

    accounts = relationship("ChannelAccount", back_populates="shop", lazy="selectin")


class ChannelAccount(Base):
    """A Meta account (WhatsApp phone number id, Instagram account id) owned by one shop."""

    __tablename__ = "channel_accounts"
    __table_args__ = (sa.UniqueConstraint("channel", "account_id"),)

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    channel = sa.Column(sa.String(16), nullable=False)
    account_id = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)

    shop = relationship("Shop", back_populates="accounts")


class Buyer(Base):
    """A person who buys from one shop, however they write to it (``BuyerIdentity``).

    ``phone`` (E.164) is how the shop knows them: orders made for a number belong to its buyer.
    It is proven (``phone_verified_at``) once WhatsApp showed it or a code sent to it came back;
    an owner's order for a number sets it unproven. ``verified_at`` is the chat verification.
    """

    __tablename__ = "buyers"
    __table_args__ = (sa.UniqueConstraint("shop_id", "phone", name="uq_buyers_shop_id_phone"),)

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    phone = sa.Column(sa.String(20))
    phone_verified_at = sa.Column(sa.DateTime)
    display_name = sa.Column(sa.String(200))
    verified_at = sa.Column(sa.DateTime)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    # Wrong codes across all of the buyer's codes (bot.shop.codes): those since the last
    # cool-down, the cool-downs so far, when the current one ends, and the latest wrong code.
    code_failures = sa.Column(sa.Integer, nullable=False, default=0, server_default="0")
    code_lockouts = sa.Column(sa.Integer, nullable=False, default=0, server_default="0")
    code_locked_until = sa.Column(sa.DateTime)
    code_failed_at = sa.Column(sa.DateTime)


class BuyerIdentity(Base):
    """One of a buyer's accounts on a channel, which is also one conversation: Rasa's sender id
    is ``shop:channel:key``, and ``key`` never changes, so the conversation survives a withheld
    or changed number.

    WhatsApp accounts carry what Meta shows of them: the number (``wa_id``), the business-scoped
    user id (``bsuid``, and ``parent_bsuid``), the username (display only). Instagram and REST
    accounts are their ``key`` (the IGSID, the REST sender).
    """

    __tablename__ = "buyer_identities"
    __table_args__ = (
        sa.UniqueConstraint("shop_id", "channel", "key"),
        sa.UniqueConstraint("shop_id", "wa_id"),
        sa.UniqueConstraint("shop_id", "bsuid"),
    )

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False)
    buyer_id = sa.Column(sa.Integer, sa.ForeignKey("buyers.id"), nullable=False, index=True)
    channel = sa.Column(sa.String(16), nullable=False)
    key = sa.Column(sa.String(160), nullable=False)
    wa_id = sa.Column(sa.String(32))
    bsuid = sa.Column(sa.String(160))
    parent_bsuid = sa.Column(sa.String(160))
    username = sa.Column(sa.String(100))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class OtpChallenge(Base):
    """One issued code. Only an HMAC of the code is kept."""

    __tablename__ = "otp_challenges"

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    buyer_id = sa.Column(sa.Integer, sa.ForeignKey("buyers.id"), nullable=False, index=True)
    code_hmac = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    expires_at = sa.Column(sa.DateTime, nullable=False)
    failed_attempts = sa.Column(sa.Integer, nullable=False, default=0)
    consumed_at = sa.Column(sa.DateTime)
    superseded_at = sa.Column(sa.DateTime)
    # Set when the code was sent to this number (E.164) to prove it, not shown in the chat.
    phone = sa.Column(sa.String(20))


class Order(Base):
    __tablename__ = "orders"
    # ``reference``: the shop's own id of the order (its storefront's, say), one per order.
    __table_args__ = (sa.Index("uq_orders_shop_id_reference", "shop_id", "reference", unique=True),)

    id = sa.Column(sa.String(16), primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    buyer_id = sa.Column(sa.Integer, sa.ForeignKey("buyers.id"), nullable=False, index=True)
    amount_kobo = sa.Column(sa.BigInteger, nullable=False)
    description = sa.Column(sa.String(500), nullable=False)
    status = sa.Column(sa.String(16), nullable=False, default=OrderStatus.PENDING.value)
    cancel_reason = sa.Column(sa.String(500))
    delivery_address = sa.Column(sa.JSON)
    reference = sa.Column(sa.String(100))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class Receipt(Base):
    """A stored receipt file, bound to the buyer who sent it and, once attached, to one order.

    What was read from it (``sha256``, ``phash``, amount, date, reference) is kept with it, and
    the checks' ``verdict`` is made when it is attached; ``flagged`` says the owner should look.
    """

    __tablename__ = "receipts"

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    order_id = sa.Column(sa.String(16), sa.ForeignKey("orders.id"), index=True)
    buyer_id = sa.Column(sa.Integer, sa.ForeignKey("buyers.id"), nullable=False)
    status = sa.Column(sa.String(16), nullable=False, default=ReceiptStatus.INCOMING.value)
    source = sa.Column(sa.String(16), nullable=False)
    storage_key = sa.Column(sa.String(500), nullable=False)
    content_type = sa.Column(sa.String(64))
    size_bytes = sa.Column(sa.Integer)
    sha256 = sa.Column(sa.String(64), index=True)
    phash = sa.Column(sa.String(64))
    amount_read_kobo = sa.Column(sa.BigInteger)
    paid_on = sa.Column(sa.Date)
    paid_time = sa.Column(sa.Time)
    reference = sa.Column(sa.String(64))
    verdict = sa.Column(sa.JSON)
    flagged = sa.Column(sa.Boolean, nullable=False, default=False, server_default=sa.false())
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    attached_at = sa.Column(sa.DateTime)


class UploadLink(Base):
    """A link to the upload page for one order of one buyer: only a hash of its token is kept,
    it expires, and a conditional update makes it usable once. The conversation it was asked
    for in is where the buyer hears that the receipt arrived."""

    __tablename__ = "upload_links"

    id = sa.Column(sa.Integer, primary_key=True)
    token_hash = sa.Column(sa.String(64), nullable=False, unique=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    order_id = sa.Column(sa.String(16), sa.ForeignKey("orders.id"), nullable=False)
    buyer_id = sa.Column(sa.Integer, sa.ForeignKey("buyers.id"), nullable=False)
    channel = sa.Column(sa.String(16), nullable=False)
    conversation_key = sa.Column(sa.String(160), nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    expires_at = sa.Column(sa.DateTime, nullable=False)
    used_at = sa.Column(sa.DateTime)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    buyer = sa.Column(sa.String(64))
    action = sa.Column(sa.String(64), nullable=False)
    detail = sa.Column(sa.JSON, nullable=False, default=dict)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow, index=True)


class InboxState(str, enum.Enum):
    RECEIVED = "received"
    PROCESSING = "processing"
    DONE = "done"
    STALE = "stale"
    FAILED = "failed"


class InboxMessage(Base):
    """A webhook message, stored before it is acknowledged so that none is lost or repeated.

    The unique key makes a redelivery a no-op, also when it reaches another server process.
    """

    __tablename__ = "inbox_messages"
    __table_args__ = (
        sa.UniqueConstraint("channel", "account_id", "platform_message_id"),
        # The claim's check for an earlier unfinished message of the same conversation.
        sa.Index("ix_inbox_messages_conversation", "shop_id", "channel", "sender", "state"),
    )

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    channel = sa.Column(sa.String(16), nullable=False)
    account_id = sa.Column(sa.String(64), nullable=False)
    platform_message_id = sa.Column(sa.String(255), nullable=False)
    sender = sa.Column(sa.String(160), nullable=False)
    message = sa.Column(sa.JSON, nullable=False)
    sent_at = sa.Column(sa.DateTime, nullable=False)
    received_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    state = sa.Column(sa.String(16), nullable=False, default=InboxState.RECEIVED.value, index=True)
    attempts = sa.Column(sa.Integer, nullable=False, default=0)
    claimed_at = sa.Column(sa.DateTime)
    # The worker holding the claim, until the lease runs out (renewed while its turn runs).
    claimed_by = sa.Column(sa.String(64))
    lease_until = sa.Column(sa.DateTime)
    # When its turn's first reply went out: a server taking the message over sends no second.
    replied_at = sa.Column(sa.DateTime)
    finished_at = sa.Column(sa.DateTime)
    error = sa.Column(sa.String(255))


class OutboundMessage(Base):
    """A message the assistant sent, joined later to the delivery statuses Meta reports."""

    __tablename__ = "outbound_messages"
    __table_args__ = (sa.UniqueConstraint("channel", "platform_message_id"),)

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    channel = sa.Column(sa.String(16), nullable=False)
    account_id = sa.Column(sa.String(64), nullable=False)
    recipient = sa.Column(sa.String(64), nullable=False)
    platform_message_id = sa.Column(sa.String(255))
    status = sa.Column(sa.String(16), nullable=False)
    error_code = sa.Column(sa.Integer)
    error_title = sa.Column(sa.String(255))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class ShopResponse(Base):
    """A shop's own wording of one domain response, applied without retraining."""

    __tablename__ = "shop_responses"
    __table_args__ = (sa.UniqueConstraint("shop_id", "name"),)

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    name = sa.Column(sa.String(128), nullable=False)
    variants = sa.Column(sa.JSON, nullable=False)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class OAuthState(Base):
    """One authorisation attempt of a shop owner; its nonce can be used once."""

    __tablename__ = "oauth_states"

    nonce = sa.Column(sa.String(64), primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    platform = sa.Column(sa.String(16), nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    expires_at = sa.Column(sa.DateTime, nullable=False)
    used_at = sa.Column(sa.DateTime)


# The shops' own systems (the HTTP API) and what they and the people involved are told.


class ApiKey(Base):
    """A key a shop's own systems call the API with. Only its SHA-256 is kept; ``prefix``, the
    key's first characters, names it in lists."""

    __tablename__ = "api_keys"

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    name = sa.Column(sa.String(100), nullable=False)
    prefix = sa.Column(sa.String(16), nullable=False)
    key_hash = sa.Column(sa.String(64), nullable=False, unique=True)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    last_used_at = sa.Column(sa.DateTime)
    revoked_at = sa.Column(sa.DateTime)


class IdempotentRequest(Base):
    """The answer given to a request with an ``Idempotency-Key``, given again to its retries."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (sa.UniqueConstraint("shop_id", "key"),)

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False)
    key = sa.Column(sa.String(255), nullable=False)
    # SHA-256 of the method, path and body: the same key with another request is refused.
    fingerprint = sa.Column(sa.String(64), nullable=False)
    status_code = sa.Column(sa.Integer, nullable=False)
    response = sa.Column(sa.JSON, nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class ShopWebhook(Base):
    """Where a shop's system hears of its orders, and the secret that signs what it hears."""

    __tablename__ = "shop_webhooks"

    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), primary_key=True)
    url = sa.Column(sa.String(2000), nullable=False)
    secret = sa.Column(sa.String(100), nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class OutboxState(str, enum.Enum):
    PENDING = "pending"  # due at next_attempt_at
    DONE = "done"  # delivered (an event) or sent (a notification)
    WAITING = "waiting"  # a notification that can go only once its recipient writes
    FAILED = "failed"  # given up: a permanent error, or retried for too long
    SKIPPED = "skipped"  # nothing to deliver any more (no webhook, an order moved on)


class Outboxed:
    """The columns of a durable delivery: its state, attempts, when it is due, and the claim a
    worker holds on it while it tries (``bot.shop.outbox``)."""

    state = sa.Column(sa.String(16), nullable=False, default=OutboxState.PENDING.value, index=True)
    attempts = sa.Column(sa.Integer, nullable=False, default=0)
    next_attempt_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    claimed_at = sa.Column(sa.DateTime)
    last_error = sa.Column(sa.String(255))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class ShopEvent(Outboxed, Base):
    """Something that happened to a shop's order, POSTed to the shop's webhook."""

    __tablename__ = "shop_events"

    id = sa.Column(sa.String(40), primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    type = sa.Column(sa.String(40), nullable=False)
    data = sa.Column(sa.JSON, nullable=False)
    delivered_at = sa.Column(sa.DateTime)


class EventDelivery(Base):
    """One attempt at POSTing an event to the shop's webhook, and how it went."""

    __tablename__ = "event_deliveries"

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False)
    event_id = sa.Column(sa.String(40), sa.ForeignKey("shop_events.id"), nullable=False, index=True)
    url = sa.Column(sa.String(2000), nullable=False)
    status_code = sa.Column(sa.Integer)
    error = sa.Column(sa.String(255))
    succeeded = sa.Column(sa.Boolean, nullable=False)
    attempted_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class Notification(Outboxed, Base):
    """A message to a buyer or an owner about an order, sent through Meta as the shop.

    A buyer's notification names the order, whose buyer it goes to (orders move with a buyer
    found to be one person with another); an owner's names the owner's number (E.164).
    """

    __tablename__ = "notifications"

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False, index=True)
    order_id = sa.Column(sa.String(16), sa.ForeignKey("orders.id"), nullable=False, index=True)
    kind = sa.Column(sa.String(40), nullable=False)
    owner_phone = sa.Column(sa.String(20))
    detail = sa.Column(sa.JSON, nullable=False, default=dict)
    channel = sa.Column(sa.String(16))
    via = sa.Column(sa.String(16))
    platform_message_id = sa.Column(sa.String(255))
    error_code = sa.Column(sa.Integer)
    sent_at = sa.Column(sa.DateTime)


class ServiceWindow(Base):
    """When someone last wrote to a shop on a channel (``key`` is their conversation's):
    free-form messages reach them for 24 hours after, Meta's customer service window."""

    __tablename__ = "service_windows"
    __table_args__ = (sa.UniqueConstraint("shop_id", "channel", "key"),)

    id = sa.Column(sa.Integer, primary_key=True)
    shop_id = sa.Column(sa.String(64), sa.ForeignKey("shops.id"), nullable=False)
    channel = sa.Column(sa.String(16), nullable=False)
    key = sa.Column(sa.String(160), nullable=False)
    last_message_at = sa.Column(sa.DateTime, nullable=False)
