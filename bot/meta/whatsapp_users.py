"""Who writes on WhatsApp: the number, business-scoped user id and username of each webhook bound
to one identity of one buyer, as soon as Meta shows them together.

A WhatsApp account is found by its business-scoped user id (BSUID) first, then by its number,
then by its parent BSUID; every id a webhook shows is then recorded on it. The conversation key
is the first id the account was seen with and never changes, so a number withheld later, or
changed, is still the same conversation. A number WhatsApp shows is proof: the buyer who held
it (an owner's order for the number) and this account's buyer are one person.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.meta.outbound import Recipient
from bot.meta.webhooks import IdentityChange, SharedContact, WhatsAppUser
from bot.platform.models import Buyer, BuyerIdentity, Channel
from bot.platform.phones import phone_of_wa_id, wa_id_of_phone
from bot.shop import audit, buyers
from bot.shop.audit import AuditAction

logger = logging.getLogger(__name__)

USER_CHANGED_NUMBER = "user_changed_number"
USER_CHANGED_USER_ID = "user_changed_user_id"


def identity_of_sender(
    session: Session, shop_id: str, user: WhatsAppUser, display_name: str | None
) -> BuyerIdentity:
    """The identity (and conversation) of whoever sent this message, created on first contact,
    with every id the webhook shows bound to it."""
    identity = _find(session, shop_id, user)
    if identity is None:
        identity = _new_identity(session, shop_id, user, display_name)
    else:
        _learn(session, identity, user)
    buyer = session.get(Buyer, identity.buyer_id)
    if buyer is not None and display_name and buyer.display_name != display_name:
        buyer.display_name = display_name
    return identity


def recipient_of(session: Session, shop_id: str, key: str) -> Recipient:
    """Where replies in the conversation ``key`` go: the number WhatsApp showed for the account,
    else its business-scoped user id."""
    identity = buyers.find_identity(session, shop_id, Channel.WHATSAPP, key)
    if identity is not None and (identity.wa_id or identity.bsuid):
        return Recipient(wa_id=identity.wa_id, user_id=identity.bsuid)
    # No ids on record: the key is the first id the account was seen with.
    return Recipient(wa_id=key) if key.isdigit() else Recipient(wa_id=None, user_id=key)


def learn_shared_number(session: Session, shop_id: str, key: str, contact: SharedContact) -> bool:
    """The buyer tapped WhatsApp's button to share their number with us: WhatsApp vouches that
    it is theirs, so it becomes the account's and the buyer's. A contact card shared any other
    way proves nothing (it can be anyone's). False when nothing was learned."""
    identity = buyers.find_identity(session, shop_id, Channel.WHATSAPP, key)
    wa_id = contact.wa_id or "".join(c for c in contact.phone or "" if c.isdigit())
    phone = phone_of_wa_id(wa_id) if wa_id else None
    if not contact.is_senders_own or identity is None or phone is None:
        return False
    _learn(session, identity, WhatsAppUser(wa_id=wa_id_of_phone(phone), user_id=identity.bsuid))
    buyer = session.get(Buyer, identity.buyer_id)
    audit.record(session, shop_id, AuditAction.BUYER_PHONE_PROVEN, buyer, proof="contact_request")
    return True


def learn_pair(session: Session, shop_id: str, wa_id: str | None, user_id: str | None) -> None:
    """A delivery status naming both ids of a known recipient binds them (never creates)."""
    if not (wa_id and user_id):
        return
    identity = _find(session, shop_id, WhatsAppUser(wa_id=wa_id, user_id=user_id))
    if identity is not None:
        _learn(session, identity, WhatsAppUser(wa_id=wa_id, user_id=user_id))


def apply_identity_change(
    session: Session, shop_id: str, sender: WhatsAppUser, change: IdentityChange
) -> bool:
    """A ``system`` notice re-keys the account: the new number and user id replace the old ones,
    and the conversation stays the same. False when the shop never met the user."""
    previous = WhatsAppUser(wa_id=sender.wa_id, user_id=change.previous_user_id or sender.user_id)
    identity = _find(session, shop_id, previous)
    if identity is None:
        logger.info("identity change for an unknown whatsapp user", extra={"shop_id": shop_id})
        return False
    if change.type == USER_CHANGED_NUMBER and change.wa_id and change.wa_id != identity.wa_id:
        old_phone = phone_of_wa_id(identity.wa_id) if identity.wa_id else None
        identity.wa_id = None
        session.flush()
        if old_phone:
            _release_phone_of(session, identity, old_phone)
    new = WhatsAppUser(
        wa_id=change.wa_id,
        user_id=change.user_id,
        parent_user_id=change.parent_user_id,
    )
    _learn(session, identity, new)
    audit.record(
        session,
        shop_id,
        AuditAction.BUYER_IDENTITY_CHANGED,
        session.get(Buyer, identity.buyer_id),
        change=change.type,
    )
    return True


def _find(session: Session, shop_id: str, user: WhatsAppUser) -> BuyerIdentity | None:
    """The account with any of these ids; the oldest when two accounts hold them (seen apart
    before Meta showed the ids together), which ``_learn`` then joins with the other."""
    found: list[BuyerIdentity] = []
    for column, value in (
        (BuyerIdentity.bsuid, user.user_id),
        (BuyerIdentity.wa_id, user.wa_id),
        # An account an owner named by its id before any webhook showed it.
        (BuyerIdentity.key, user.user_id),
        (BuyerIdentity.key, user.wa_id),
        (BuyerIdentity.parent_bsuid, user.parent_user_id),
    ):
        if not value:
            continue
        identity = session.execute(
            sa.select(BuyerIdentity)
            .where(
                BuyerIdentity.shop_id == shop_id,
                BuyerIdentity.channel == Channel.WHATSAPP,
                column == value,
            )
            .order_by(BuyerIdentity.id)
            .limit(1)
        ).scalar_one_or_none()
        if identity is None:
            continue
        if value == user.wa_id and _another_account(identity, user):
            # The number now belongs to another WhatsApp account (numbers are recycled): the
            # account that had it keeps its orders and loses the number.
            _release_number(session, identity)
            continue
        found.append(identity)
    return min(found, key=lambda identity: identity.id) if found else None


def _another_account(identity: BuyerIdentity, user: WhatsAppUser) -> bool:
    return bool(identity.bsuid and user.user_id and identity.bsuid != user.user_id)


def _new_identity(
    session: Session, shop_id: str, user: WhatsAppUser, display_name: str | None
) -> BuyerIdentity:
    phone = phone_of_wa_id(user.wa_id) if user.wa_id else None
    if phone:
        buyer, _ = buyers.buyer_for_phone(session, shop_id, phone)
        buyer = buyers.prove_phone(session, buyer, phone)
        buyer.display_name = buyer.display_name or display_name
    else:
        buyer = Buyer(shop_id=shop_id, display_name=display_name)
        session.add(buyer)
        session.flush()
    # The number names the conversation, unless an account the number has left still holds
    # that name; then the user id does.
    key = next(
        (
            candidate
            for candidate in (user.wa_id, user.user_id)
            if candidate
            and buyers.find_identity(session, shop_id, Channel.WHATSAPP, candidate) is None
        ),
        None,
    )
    if key is None:
        raise ValueError("a whatsapp user needs a number or a user id no other account holds")
    identity = BuyerIdentity(
        shop_id=shop_id,
        buyer_id=buyer.id,
        channel=Channel.WHATSAPP,
        key=key,
        wa_id=user.wa_id,
        bsuid=user.user_id,
        parent_bsuid=user.parent_user_id,
        username=user.username,
    )
    session.add(identity)
    session.flush()
    audit.record(session, shop_id, AuditAction.BUYER_REGISTERED, buyer, channel=Channel.WHATSAPP)
    return identity


def _learn(session: Session, identity: BuyerIdentity, user: WhatsAppUser) -> None:
    """Record what the webhook shows of the account; a number shown is the buyer's, proven."""
    if user.user_id and identity.bsuid != user.user_id:
        _take_over(session, identity, BuyerIdentity.bsuid, user.user_id)
        identity.bsuid = user.user_id
    if user.parent_user_id:
        identity.parent_bsuid = user.parent_user_id
    if user.username:
        identity.username = user.username
    if user.wa_id and identity.wa_id != user.wa_id:
        _take_over(session, identity, BuyerIdentity.wa_id, user.wa_id)
        identity.wa_id = user.wa_id
    session.flush()
    phone = phone_of_wa_id(identity.wa_id) if identity.wa_id else None
    buyer = session.get(Buyer, identity.buyer_id)
    if phone and buyer is not None and buyer.phone != phone:
        buyers.prove_phone(session, buyer, phone)


def _take_over(
    session: Session, identity: BuyerIdentity, column: sa.orm.InstrumentedAttribute, value: str
) -> None:
    """Another identity of the shop that holds this id is the same account seen before the
    pair was known (one message showed only the number, another only the user id): it joins
    this one, and its buyer joins this one's."""
    other = session.execute(
        sa.select(BuyerIdentity).where(
            BuyerIdentity.shop_id == identity.shop_id,
            BuyerIdentity.channel == Channel.WHATSAPP,
            BuyerIdentity.id != identity.id,
            column == value,
        )
    ).scalar_one_or_none()
    if other is None:
        return
    # The other account's ids are freed first: they are unique per shop.
    taken = {name: getattr(other, name) for name in ("wa_id", "bsuid", "parent_bsuid", "username")}
    other_buyer_id = other.buyer_id
    other.wa_id = other.bsuid = None
    session.flush()
    for name, known in taken.items():
        if getattr(identity, name) is None:
            setattr(identity, name, known)
    session.flush()
    mine, theirs = session.get(Buyer, identity.buyer_id), session.get(Buyer, other_buyer_id)
    if mine is not None and theirs is not None and mine.id != theirs.id:
        buyers.merge_buyers(session, mine, theirs)


def _release_number(session: Session, identity: BuyerIdentity) -> None:
    phone = phone_of_wa_id(identity.wa_id) if identity.wa_id else None
    identity.wa_id = None
    session.flush()
    if phone:
        _release_phone_of(session, identity, phone)
    logger.info("whatsapp number moved to another account", extra={"shop_id": identity.shop_id})


def _release_phone_of(session: Session, identity: BuyerIdentity, phone: str) -> None:
    buyer = session.get(Buyer, identity.buyer_id)
    if buyer is not None and buyer.phone == phone:
        buyers.release_phone(session, identity.shop_id, phone)
        session.refresh(buyer)
