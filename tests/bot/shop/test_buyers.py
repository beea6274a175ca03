"""One buyer per shop however many accounts: numbers proven, buyers joined, shops kept apart."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.platform import db
from bot.platform.models import Buyer, BuyerIdentity, Channel, Order, OtpChallenge
from bot.shop import buyers, orders
from bot.shop.codes import issue_code
from tests.conftest import OTP_SECRET, make_shop
from tests.helpers.threads import race

ADA = "+2348031234567"


def order_for(session, buyer) -> Order:
    return orders.create_order(session, buyer, 2_500_000, "Ankara, 6 yards")


def test_an_order_for_a_number_is_held_by_an_unproven_buyer_of_that_number(session):
    make_shop()
    buyer, created = buyers.buyer_for_phone(session, "mama-put", ADA)
    again, created_again = buyers.buyer_for_phone(session, "mama-put", ADA)
    assert (created, created_again, again.id) == (True, False, buyer.id)
    assert (buyer.phone, buyer.phone_verified_at) == (ADA, None)


def test_proving_a_number_joins_the_buyer_who_held_it(session):
    make_shop()
    holder, _ = buyers.buyer_for_phone(session, "mama-put", ADA)
    order = order_for(session, holder)
    instagram, _ = buyers.get_or_create_buyer(session, "mama-put", Channel.INSTAGRAM, "IGSID-1")
    proven = buyers.prove_phone(session, instagram, ADA)
    assert proven.id == min(holder.id, instagram.id)
    assert (proven.phone, proven.phone_verified_at is not None) == (ADA, True)
    assert session.get(Order, order.id).buyer_id == proven.id
    assert buyers.find_buyer(session, "mama-put", Channel.INSTAGRAM, "IGSID-1").id == proven.id
    assert session.execute(sa.select(sa.func.count(Buyer.id))).scalar_one() == 1


def test_joining_keeps_verification_and_withdraws_the_other_buyers_open_codes(session):
    make_shop()
    older, _ = buyers.get_or_create_buyer(session, "mama-put", Channel.REST, "ada")
    newer, _ = buyers.get_or_create_buyer(session, "mama-put", Channel.INSTAGRAM, "IGSID-1")
    buyers.mark_verified(newer)
    issue_code(session, newer, key=OTP_SECRET, ttl_seconds=300)
    kept = buyers.merge_buyers(session, newer, older)
    assert kept.id == older.id and kept.verified_at is not None
    challenge = session.execute(sa.select(OtpChallenge)).scalar_one()
    assert (challenge.buyer_id, challenge.superseded_at is not None) == (older.id, True)
    keys = session.execute(sa.select(BuyerIdentity.key).order_by(BuyerIdentity.key)).scalars()
    assert list(keys) == ["IGSID-1", "ada"]


def test_a_new_number_replaces_the_old_one(session):
    make_shop()
    buyer, _ = buyers.get_or_create_buyer(session, "mama-put", Channel.REST, "ada")
    buyers.prove_phone(session, buyer, ADA)
    buyers.prove_phone(session, buyer, "+2348099998888")
    assert buyer.phone == "+2348099998888"
    assert buyers.find_by_phone(session, "mama-put", ADA) is None


def test_two_shops_one_person_are_two_buyers_and_nothing_crosses(session):
    make_shop()
    make_shop("iya-basket", "Iya Basket")
    at_mama, _ = buyers.buyer_for_phone(session, "mama-put", ADA)
    order_for(session, at_mama)
    at_iya, _ = buyers.get_or_create_buyer(session, "iya-basket", Channel.INSTAGRAM, "IGSID-1")
    proven = buyers.prove_phone(session, at_iya, ADA)
    assert proven.id == at_iya.id and proven.shop_id == "iya-basket"
    assert orders.buyer_orders(session, proven) == []
    assert buyers.find_by_phone(session, "mama-put", ADA).id == at_mama.id


def test_buyers_of_two_shops_are_never_joined(session):
    make_shop()
    make_shop("iya-basket", "Iya Basket")
    one, _ = buyers.get_or_create_buyer(session, "mama-put", Channel.REST, "ada")
    other, _ = buyers.get_or_create_buyer(session, "iya-basket", Channel.REST, "ada")
    with pytest.raises(ValueError):
        buyers.merge_buyers(session, one, other)


def test_racing_registrations_of_one_conversation_make_one_buyer():
    make_shop()

    def register(start) -> int:
        with db.session_scope() as session:
            start()
            buyer, _ = buyers.get_or_create_buyer(session, "mama-put", Channel.REST, "ada")
            return buyer.id

    ids = race([register] * 6)
    assert len(set(ids)) == 1
    with db.session_scope() as session:
        assert session.execute(sa.select(sa.func.count(Buyer.id))).scalar_one() == 1


def test_the_audit_label_never_shows_the_whole_number(session):
    make_shop()
    buyer, _ = buyers.buyer_for_phone(session, "mama-put", ADA)
    assert buyers.label(buyer) == "***4567"
    rest, _ = buyers.get_or_create_buyer(session, "mama-put", Channel.REST, "ada")
    assert buyers.label(rest) == f"buyer #{rest.id}"
