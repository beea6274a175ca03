"""The command line of the shops' own systems and owners: API keys, owners' numbers,
notification templates, the webhook, order references and reasons."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.platform import db
from bot.platform.models import ApiKey, AuditEvent, Notification, Shop
from bot.shop import api_keys, events, owners
from bot.shop import notice_templates as templates
from tests.bot.cli.test_cli import add_shop, create_order, fails, ok

pytestmark = pytest.mark.usefixtures("restore_environ")


def test_a_key_is_printed_once_last_and_stored_as_a_hash(capsys) -> None:
    add_shop(capsys)
    out = ok(capsys, "apikey", "create", "--shop", "mama-put", "--name", "storefront")
    key = out[-1]
    assert key.startswith("tgk_") and len(key) > 40
    with db.session_scope() as session:
        (row,) = session.execute(sa.select(ApiKey)).scalars().all()
        assert key not in (row.key_hash, row.prefix) and row.name == "storefront"
        assert api_keys.authenticate(session, key).shop_id == "mama-put"
    (listed,) = ok(capsys, "apikey", "list", "--shop", "mama-put")
    assert key not in listed and "storefront\tactive\tlast used" in listed
    ok(capsys, "apikey", "revoke", str(row.id), "--shop", "mama-put")
    assert "revoked" in ok(capsys, "apikey", "list", "--shop", "mama-put")[0]
    with db.session_scope() as session:
        assert api_keys.authenticate(session, key) is None


def test_a_key_is_revoked_only_by_its_shop(capsys) -> None:
    add_shop(capsys)
    add_shop(capsys, "iya-basket", "Iya Basket")
    ok(capsys, "apikey", "create", "--shop", "mama-put")
    assert "no key 1" in fails(capsys, "apikey", "revoke", "1", "--shop", "iya-basket")
    assert "'nope'" in fails(capsys, "apikey", "create", "--shop", "nope")


def test_owners_numbers_are_added_and_removed_in_any_spelling(capsys) -> None:
    add_shop(capsys)
    out = ok(
        capsys,
        "shop", "settings", "mama-put",
        "--owner-whatsapp", "0803 123 4567", "--owner-whatsapp", "+234 812 000 1111",
    )  # fmt: skip
    assert out[-1] == "owners on WhatsApp: +2348031234567, +2348120001111"
    out = ok(capsys, "shop", "settings", "mama-put", "--remove-owner-whatsapp", "08031234567")
    assert out[-1] == "owners on WhatsApp: +2348120001111"
    error = fails(
        capsys, "shop", "settings", "mama-put", "--tone", "casual", "--owner-whatsapp", "12"
    )
    assert "owner number '12'" in error
    with db.session_scope() as session:
        shop = session.get(Shop, "mama-put")
        assert owners.owner_numbers(shop) == ["+2348120001111"]
        assert (shop.settings or {}).get("tone") != "casual"


def test_a_notification_template_is_set_checked_and_removed(capsys) -> None:
    add_shop(capsys)
    out = ok(
        capsys,
        "shop", "template", "mama-put", "order_shipped",
        "--name", "order_on_its_way", "--fields", "order_id, description",
    )  # fmt: skip
    assert "template order_shipped: order_on_its_way (en) with order_id, description" in out
    assert "unknown template field(s) secret" in fails(
        capsys, "shop", "template", "mama-put", "order_shipped", "--name", "x", "--fields", "secret"
    )
    assert "no notification 'order_lost'" in fails(
        capsys, "shop", "template", "mama-put", "order_lost", "--name", "x"
    )
    assert "template name" in fails(
        capsys, "shop", "template", "mama-put", "order_shipped", "--name", "Not Valid"
    )
    ok(capsys, "shop", "template", "mama-put", "order_shipped", "--remove")
    with db.session_scope() as session:
        assert templates.templates_of(session.get(Shop, "mama-put")) == {}


def test_the_webhook_secret_is_printed_only_when_made(capsys) -> None:
    add_shop(capsys)
    out = ok(capsys, "shop", "webhook", "mama-put", "--url", "https://shop.example/hooks")
    assert out[-1].startswith("whsec_")
    assert ok(capsys, "shop", "webhook", "mama-put") == ["webhook: https://shop.example/hooks"]
    again = ok(capsys, "shop", "webhook", "mama-put", "--url", "https://shop.example/v2")
    assert not any(line.startswith("whsec_") for line in again)
    rotated = ok(
        capsys, "shop", "webhook", "mama-put", "--url", "https://shop.example/v2", "--rotate-secret"
    )
    assert rotated[-1].startswith("whsec_") and rotated[-1] != out[-1]
    assert "https://" in fails(
        capsys, "shop", "webhook", "mama-put", "--url", "http://shop.example"
    )
    assert ok(capsys, "shop", "webhook", "mama-put", "--remove") == ["webhook removed"]
    with db.session_scope() as session:
        assert events.webhook_of(session, "mama-put") is None


def test_a_cancellation_from_the_cli_tells_the_buyer_why(capsys) -> None:
    add_shop(capsys)
    _, order_id = create_order(capsys)
    ok(
        capsys,
        "order", "set-status", order_id, "--shop", "mama-put",
        "--status", "cancelled", "--reason", "out of stock",
    )  # fmt: skip
    with db.session_scope() as session:
        kinds = session.execute(
            sa.select(Notification.kind, Notification.detail).order_by(Notification.id)
        ).all()
        audit = session.execute(
            sa.select(AuditEvent.detail).where(AuditEvent.action == "order.status_changed")
        ).scalar_one()
    assert [tuple(row) for row in kinds] == [
        ("order_created", {}),
        ("order_cancelled", {"reason": "out of stock"}),
    ]
    assert audit["reason"] == "out of stock" and audit["by"] == "cli"


def test_an_order_reference_is_one_orders_only(capsys) -> None:
    add_shop(capsys)
    argv = ["order", "create", "--shop", "mama-put", "--phone", "0803 123 4567", "--amount", "10"]
    ok(capsys, *argv, "--description", "a", "--reference", "pos-17")
    assert "reference 'pos-17'" in fails(
        capsys, *argv, "--description", "b", "--reference", "pos-17"
    )
