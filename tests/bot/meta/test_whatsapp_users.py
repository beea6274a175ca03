"""Who writes on WhatsApp: numbers, business-scoped user ids and usernames bound to one account
of one buyer, its conversation kept through a withheld or changed number."""

from __future__ import annotations

import sqlalchemy as sa

from bot.meta import whatsapp_users
from bot.meta.outbound import Recipient
from bot.meta.webhooks import IdentityChange, SharedContact, WhatsAppUser
from bot.platform.models import AuditEvent, Buyer, BuyerIdentity, Channel
from bot.shop import buyers, orders
from tests.conftest import make_shop

WA_ID = "2348031234567"
PHONE = "+2348031234567"
BSUID = "NG.8462019375510"
NEW_WA_ID = "2348099998888"
NEW_BSUID = "NG.1111111111111"


def sender(session, user: WhatsAppUser, shop_id: str = "mama-put", name: str | None = "Ada"):
    return whatsapp_users.identity_of_sender(session, shop_id, user, name)


def count(session, model) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_first_contact_makes_a_buyer_whose_number_whatsapp_proved(session):
    make_shop()
    identity = sender(session, WhatsAppUser(WA_ID, BSUID, username="ada.buys"))
    buyer = session.get(Buyer, identity.buyer_id)
    assert (identity.key, identity.wa_id, identity.bsuid, identity.username) == (
        WA_ID,
        WA_ID,
        BSUID,
        "ada.buys",
    )
    assert (buyer.phone, buyer.phone_verified_at is not None, buyer.display_name) == (
        PHONE,
        True,
        "Ada",
    )
    audited = session.execute(sa.select(AuditEvent.action, AuditEvent.buyer)).all()
    assert audited == [("buyer.registered", "***4567")]


def test_a_phone_less_first_contact_is_keyed_by_the_user_id(session):
    make_shop()
    identity = sender(session, WhatsAppUser(None, BSUID))
    assert (identity.key, identity.wa_id, session.get(Buyer, identity.buyer_id).phone) == (
        BSUID,
        None,
        None,
    )


def test_the_conversation_stays_when_the_number_is_withheld_later(session):
    make_shop()
    shown = sender(session, WhatsAppUser(WA_ID, BSUID))
    withheld = sender(session, WhatsAppUser(None, BSUID))
    assert withheld.id == shown.id and withheld.key == WA_ID
    assert whatsapp_users.recipient_of(session, "mama-put", WA_ID) == Recipient(WA_ID, BSUID)


def test_a_number_shown_later_binds_to_the_phone_less_account(session):
    make_shop()
    phone_less = sender(session, WhatsAppUser(None, BSUID))
    shown = sender(session, WhatsAppUser(WA_ID, BSUID))
    assert shown.id == phone_less.id and shown.key == BSUID
    assert session.get(Buyer, shown.buyer_id).phone == PHONE


def test_an_account_seen_apart_by_number_and_by_user_id_is_joined_when_both_show(session):
    """Before April 2026 only numbers came; a username user then wrote phone-less: two
    accounts, until one webhook shows both ids. The older conversation goes on."""
    make_shop()
    by_number = sender(session, WhatsAppUser(WA_ID, None))
    by_user_id = sender(session, WhatsAppUser(None, BSUID))
    assert by_number.buyer_id != by_user_id.buyer_id
    both = sender(session, WhatsAppUser(WA_ID, BSUID))
    assert both.id == by_number.id
    assert (both.wa_id, both.bsuid) == (WA_ID, BSUID)
    assert count(session, Buyer) == 1
    assert buyers.find_buyer(session, "mama-put", Channel.WHATSAPP, BSUID).id == both.buyer_id


def test_an_order_an_owner_made_for_the_number_is_the_writers(session):
    make_shop()
    holder, _ = buyers.buyer_for_phone(session, "mama-put", PHONE)
    order = orders.create_order(session, holder, 2_500_000, "Ankara")
    identity = sender(session, WhatsAppUser(WA_ID, BSUID))
    assert identity.buyer_id == holder.id
    buyer = buyers.find_buyer(session, "mama-put", Channel.WHATSAPP, identity.key)
    assert [o.id for o in orders.buyer_orders(session, buyer)] == [order.id]


def test_a_phone_less_writer_does_not_get_anyones_orders(session):
    make_shop()
    holder, _ = buyers.buyer_for_phone(session, "mama-put", PHONE)
    orders.create_order(session, holder, 2_500_000, "Ankara")
    identity = sender(session, WhatsAppUser(None, BSUID))
    assert identity.buyer_id != holder.id


def test_replies_go_to_the_number_when_known_else_to_the_user_id(session):
    make_shop()
    sender(session, WhatsAppUser(None, BSUID))
    assert whatsapp_users.recipient_of(session, "mama-put", BSUID) == Recipient(None, BSUID)
    # A conversation from before identities were kept: its key is its number.
    assert whatsapp_users.recipient_of(session, "mama-put", WA_ID) == Recipient(WA_ID)


def test_a_changed_number_keeps_the_conversation_and_moves_the_phone(session):
    make_shop()
    before = sender(session, WhatsAppUser(WA_ID, BSUID))
    change = IdentityChange(
        type="user_changed_number",
        wa_id=NEW_WA_ID,
        user_id=NEW_BSUID,
        previous_user_id=BSUID,
    )
    assert whatsapp_users.apply_identity_change(
        session, "mama-put", WhatsAppUser(WA_ID, BSUID), change
    )
    after = sender(session, WhatsAppUser(NEW_WA_ID, NEW_BSUID))
    assert after.id == before.id and after.key == WA_ID
    buyer = session.get(Buyer, after.buyer_id)
    assert buyer.phone == "+2348099998888"
    assert buyers.find_by_phone(session, "mama-put", PHONE) is None
    assert whatsapp_users.recipient_of(session, "mama-put", WA_ID) == Recipient(
        NEW_WA_ID, NEW_BSUID
    )
    assert ("buyer.identity_changed", {"change": "user_changed_number"}) in session.execute(
        sa.select(AuditEvent.action, AuditEvent.detail)
    ).all()


def test_a_changed_user_id_keeps_the_conversation(session):
    make_shop()
    before = sender(session, WhatsAppUser(None, BSUID))
    change = IdentityChange(
        type="user_changed_user_id", wa_id=None, user_id=NEW_BSUID, previous_user_id=BSUID
    )
    whatsapp_users.apply_identity_change(session, "mama-put", WhatsAppUser(None, BSUID), change)
    after = sender(session, WhatsAppUser(None, NEW_BSUID))
    assert (after.id, after.key, after.bsuid) == (before.id, BSUID, NEW_BSUID)


def test_a_change_for_a_stranger_changes_nothing(session):
    make_shop()
    change = IdentityChange(
        type="user_changed_user_id", wa_id=None, user_id=NEW_BSUID, previous_user_id=BSUID
    )
    assert not whatsapp_users.apply_identity_change(
        session, "mama-put", WhatsAppUser(None, BSUID), change
    )
    assert count(session, BuyerIdentity) == 0


def test_a_recycled_number_is_another_person(session):
    """A number now used by another WhatsApp account (another user id) does not open the old
    owner's conversation or orders: the old account keeps its orders and loses the number."""
    make_shop()
    first = sender(session, WhatsAppUser(WA_ID, BSUID))
    order = orders.create_order(session, session.get(Buyer, first.buyer_id), 100_00, "Gele")
    newcomer = sender(session, WhatsAppUser(WA_ID, "NG.9999999999999"))
    assert newcomer.id != first.id and newcomer.buyer_id != first.buyer_id
    assert session.get(Buyer, newcomer.buyer_id).phone == PHONE
    old_owner = session.get(Buyer, first.buyer_id)
    assert (old_owner.phone, first.wa_id) == (None, None)
    assert orders.buyer_orders(session, session.get(Buyer, newcomer.buyer_id)) == []
    assert orders.get_buyer_order(session, old_owner, order.id) is not None


def test_the_same_person_in_two_shops_is_two_buyers(session):
    make_shop()
    make_shop("iya-basket", "Iya Basket")
    here = sender(session, WhatsAppUser(WA_ID, BSUID))
    there = sender(session, WhatsAppUser(WA_ID, BSUID), shop_id="iya-basket")
    assert here.buyer_id != there.buyer_id
    assert (here.shop_id, there.shop_id) == ("mama-put", "iya-basket")


def test_a_number_shared_by_request_proves_it_and_a_contact_card_never_does(session):
    make_shop()
    holder, _ = buyers.buyer_for_phone(session, "mama-put", PHONE)
    orders.create_order(session, holder, 2_500_000, "Ankara")
    phone_less = sender(session, WhatsAppUser(None, BSUID))
    card = SharedContact(wa_id=WA_ID, phone="+234 803 123 4567", origin=None)
    assert not whatsapp_users.learn_shared_number(session, "mama-put", BSUID, card)
    assert session.get(BuyerIdentity, phone_less.id).wa_id is None
    answer = SharedContact(wa_id=WA_ID, phone="+234 803 123 4567", origin="contact_request")
    assert whatsapp_users.learn_shared_number(session, "mama-put", BSUID, answer)
    buyer = buyers.find_buyer(session, "mama-put", Channel.WHATSAPP, BSUID)
    assert (buyer.id, buyer.phone) == (holder.id, PHONE)
    assert len(orders.buyer_orders(session, buyer)) == 1


def test_a_status_naming_both_ids_binds_them_for_a_known_recipient_only(session):
    make_shop()
    known = sender(session, WhatsAppUser(WA_ID, None))
    whatsapp_users.learn_pair(session, "mama-put", WA_ID, BSUID)
    whatsapp_users.learn_pair(session, "mama-put", NEW_WA_ID, NEW_BSUID)
    assert session.get(BuyerIdentity, known.id).bsuid == BSUID
    assert count(session, BuyerIdentity) == 1
