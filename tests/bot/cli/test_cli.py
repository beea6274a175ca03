"""The admin command line, run in-process against the test database (and once as a process)."""

import datetime as dt
import os
import re
import subprocess
import sys

import pytest
import sqlalchemy as sa

from bot.cli import main
from bot.meta import inbox
from bot.platform import db
from bot.platform.models import Buyer, Order, OutboundMessage, utcnow
from bot.platform.patterns import ORDER_ID_PATTERN
from bot.platform.settings import PROJECT_ROOT, get_settings
from bot.shop import buyers, orders
from bot.shop.order_ids import normalize_order_id

pytestmark = pytest.mark.usefixtures("restore_environ")  # `main` fills os.environ from .env
PHONE = "2348012345678"


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def ok(capsys, *argv):
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert err == []
    return out


def fails(capsys, *argv):
    """A refused command: status 1 and exactly one line on stderr, never a traceback."""
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert len(err) == 1, err
    assert err[0].startswith("python -m bot: ")
    assert "Traceback" not in err[0]
    return err[0]


def add_shop(capsys, shop_id="mama-put", name="Mama Put Fabrics"):
    return ok(capsys, "shop", "add", "--id", shop_id, "--name", name)


def create_order(capsys, shop="mama-put", amount="25000", description="3 yards of ankara"):
    out = ok(
        capsys,
        "order",
        "create",
        "--shop",
        shop,
        "--channel",
        "whatsapp",
        "--buyer",
        PHONE,
        "--amount",
        amount,
        "--description",
        description,
    )
    return out, out[-1]


def create_order_failing(capsys, shop="mama-put", amount="100"):
    argv = ["order", "create", "--shop", shop, "--channel", "rest", "--buyer", "u1"]
    return fails(capsys, *argv, f"--amount={amount}", "--description", "x")


def test_shop_add_list_show(capsys):
    (line,) = add_shop(capsys)
    assert line.split("\t") == ["mama-put", "Mama Put Fabrics", "accounts: none"]
    ok(
        capsys,
        "shop",
        "add",
        "--id",
        "ada-fabrics",
        "--name",
        "Ada's Fabrics",
        "--whatsapp-phone-id",
        "1098765",
    )

    listed = ok(capsys, "shop", "list")
    assert [line.split("\t")[0] for line in listed] == ["ada-fabrics", "mama-put"]
    assert "accounts: whatsapp:1098765" in listed[0]

    shown = ok(capsys, "shop", "show", "mama-put")
    assert shown == [line, "tokens: none", "orders: none", "failed sends, last 24 hours: none"]


def test_shop_show_counts_orders_by_status(capsys):
    add_shop(capsys)
    create_order(capsys)
    _, order_id = create_order(capsys, amount="1000")
    ok(capsys, "order", "set-status", order_id, "--shop", "mama-put", "--status", "confirmed")
    shown = ok(capsys, "shop", "show", "mama-put")
    assert shown[-2] == "orders: confirmed 1, pending 1"


def test_shop_show_tells_of_replies_that_could_not_be_sent(capsys):
    add_shop(capsys)
    for _ in range(2):
        inbox.record_unsendable(
            "mama-put", "whatsapp", "", "2348012345678", "no token to send with"
        )
    inbox.record_send("mama-put", "instagram", "1784", "IGSID-1", None, 190, "token expired")
    inbox.record_send("mama-put", "instagram", "1784", "IGSID-1", "mid.1")
    shown = ok(capsys, "shop", "show", "mama-put")
    assert shown[-1] == (
        "failed sends, last 24 hours: whatsapp 2x (no token to send with), "
        "instagram 1x (token expired)"
    )


def test_order_create_prints_the_order_and_then_its_id(capsys):
    add_shop(capsys)
    out, order_id = create_order(capsys, amount="25,000.50")
    assert normalize_order_id(order_id) == order_id
    fields = out[0].split("\t")
    assert fields[:4] == [order_id, "pending", "₦25,000.50", "3 yards of ankara"]
    with db.session_scope() as session:
        order = orders.get_shop_order(session, "mama-put", order_id)
        assert order.amount_kobo == 2500050
        assert order.status == "pending"


def test_order_list_filters_by_status(capsys):
    add_shop(capsys)
    _, first = create_order(capsys, amount="1000")
    _, second = create_order(capsys, amount="2000")
    ok(capsys, "order", "set-status", second, "--shop", "mama-put", "--status", "confirmed")

    everything = ok(capsys, "order", "list", "--shop", "mama-put")
    assert sorted(line.split("\t")[0] for line in everything) == sorted([first, second])
    pending = ok(capsys, "order", "list", "--shop", "mama-put", "--status", "pending")
    assert [line.split("\t")[:3] for line in pending] == [[first, "pending", "₦1,000.00"]]
    confirmed = ok(capsys, "order", "list", "--shop", "mama-put", "--status", "confirmed")
    assert [line.split("\t")[0] for line in confirmed] == [second]
    assert ok(capsys, "order", "list", "--shop", "mama-put", "--status", "shipped") == []


@pytest.mark.parametrize(
    "typing", [str.lower, lambda i: i.replace("-", ""), lambda i: "#" + i.lower()]
)
def test_order_show_accepts_how_the_id_is_typed(capsys, typing):
    add_shop(capsys)
    _, order_id = create_order(capsys)
    (line,) = ok(capsys, "order", "show", typing(order_id), "--shop", "mama-put")
    assert line.split("\t")[:3] == [order_id, "pending", "₦25,000.00"]


def test_order_moves_along_its_lifecycle_and_not_back(capsys):
    add_shop(capsys)
    _, order_id = create_order(capsys)
    for status in ("confirmed", "shipped"):
        (line,) = ok(
            capsys, "order", "set-status", order_id, "--shop", "mama-put", "--status", status
        )
        assert line.split("\t")[:2] == [order_id, status]

    error = fails(
        capsys, "order", "set-status", order_id, "--shop", "mama-put", "--status", "pending"
    )
    assert "shipped" in error and "pending" in error
    (line,) = ok(capsys, "order", "show", order_id, "--shop", "mama-put")
    assert line.split("\t")[1] == "shipped"


def test_setting_the_same_status_again_changes_nothing(capsys):
    add_shop(capsys)
    _, order_id = create_order(capsys)
    ok(capsys, "order", "set-status", order_id, "--shop", "mama-put", "--status", "confirmed")
    ok(capsys, "order", "set-status", order_id, "--shop", "mama-put", "--status", "confirmed")
    tail = ok(capsys, "audit", "tail", "--shop", "mama-put")
    assert [line.split("\t")[1] for line in tail].count("order.status_changed") == 1


def test_audit_tail_shows_events_with_masked_buyer(capsys):
    add_shop(capsys)
    _, order_id = create_order(capsys)
    ok(capsys, "order", "set-status", order_id, "--shop", "mama-put", "--status", "confirmed")

    tail = ok(capsys, "audit", "tail", "--shop", "mama-put")
    assert len(tail) == 2
    created = tail[0].split("\t")
    assert created[1:] == ["order.created", "***5678", f"by=cli order_id={order_id}"]
    changed = tail[1].split("\t")
    assert changed[1:] == [
        "order.status_changed",
        "-",
        f"after=confirmed before=pending by=cli order_id={order_id}",
    ]
    assert all(PHONE not in line for line in tail)


def test_audit_tail_limit(capsys):
    add_shop(capsys)
    ids = [create_order(capsys, amount=str(n))[1] for n in (1, 2, 3)]
    tail = ok(capsys, "audit", "tail", "--shop", "mama-put", "--limit", "2")
    assert [line.split("\t")[3] for line in tail] == [f"by=cli order_id={i}" for i in ids[1:]]


def test_unknown_shop_is_refused(capsys):
    error = fails(capsys, "order", "list", "--shop", "nope")
    assert "'nope'" in error
    fails(capsys, "shop", "show", "nope")
    fails(capsys, "audit", "tail", "--shop", "nope")


def test_order_for_unknown_shop_is_refused(capsys):
    error = create_order_failing(capsys, shop="nope")
    assert "'nope'" in error
    with db.session_scope() as session:
        assert session.query(Order).count() == 0


def test_duplicate_shop_is_refused(capsys):
    add_shop(capsys)
    error = fails(capsys, "shop", "add", "--id", "mama-put", "--name", "Another")
    assert "already exists" in error
    assert len(ok(capsys, "shop", "list")) == 1


def test_malformed_shop_id_is_refused(capsys):
    fails(capsys, "shop", "add", "--id", "Mama Put", "--name", "Mama Put Fabrics")
    assert ok(capsys, "shop", "list") == []


@pytest.mark.parametrize("amount", ["abc", "0", "-5", "1.234", "nan"])
def test_bad_amount_is_refused(capsys, amount):
    add_shop(capsys)
    error = create_order_failing(capsys, amount=amount)
    assert repr(amount) in error
    assert ok(capsys, "order", "list", "--shop", "mama-put") == []


@pytest.mark.parametrize("typed", ["ORD-7F3K9I", "ORD-7F3K9", "ORDER-7F3K9Q", "nope"])
def test_bad_order_id_is_refused(capsys, typed):
    add_shop(capsys)
    error = fails(capsys, "order", "show", typed, "--shop", "mama-put")
    assert "not an order id" in error
    fails(capsys, "order", "set-status", typed, "--shop", "mama-put", "--status", "shipped")


def test_unknown_order_is_refused(capsys):
    add_shop(capsys)
    error = fails(capsys, "order", "show", "ORD-7F3K9Q", "--shop", "mama-put")
    assert "no order" in error


def test_order_of_another_shop_is_not_found(capsys):
    add_shop(capsys)
    add_shop(capsys, "ada-fabrics", "Ada's Fabrics")
    _, order_id = create_order(capsys)
    fails(capsys, "order", "show", order_id, "--shop", "ada-fabrics")
    fails(capsys, "order", "set-status", order_id, "--shop", "ada-fabrics", "--status", "confirmed")
    (line,) = ok(capsys, "order", "show", order_id, "--shop", "mama-put")
    assert line.split("\t")[1] == "pending"


def test_printed_ids_match_the_extraction_pattern(capsys):
    """What the owner reads out to a buyer is what the assistant recognises."""
    add_shop(capsys)
    _, order_id = create_order(capsys)
    assert re.fullmatch(ORDER_ID_PATTERN, order_id)


def test_error_as_a_process_is_one_line_without_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "bot", "order", "show", "nope", "--shop", "x"],
        env=dict(os.environ),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    err = result.stderr.splitlines()
    assert len(err) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert err[0].startswith("python -m bot: error:")


def test_shop_link_connects_accounts_and_refuses_another_shops_account(capsys) -> None:
    assert main(["shop", "add", "--id", "mama-put", "--name", "Mama Put"]) == 0
    assert main(["shop", "add", "--id", "iya-basket", "--name", "Iya Basket"]) == 0
    capsys.readouterr()
    assert main(["shop", "link", "mama-put", "--whatsapp-phone-id", "1065403522"]) == 0
    assert "whatsapp:1065403522" in capsys.readouterr().out
    assert main(["shop", "link", "iya-basket", "--whatsapp-phone-id", "1065403522"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already belongs to shop 'mama-put'" in err[0]
    assert main(["shop", "link", "mama-put"]) == 1


def test_refresh_tokens_with_no_token_stored_has_nothing_to_do(capsys) -> None:
    add_shop(capsys)
    assert ok(capsys, "shop", "refresh-tokens") == []
    assert ok(capsys, "shop", "refresh-tokens", "--shop", "mama-put", "--within-days", "5") == []
    assert "no shop 'nobody'" in fails(capsys, "shop", "refresh-tokens", "--shop", "nobody")


# Orders for a phone number


@pytest.mark.parametrize("typed", ["0801 234 5678", "+234 801 234 5678", "2348012345678"])
def test_an_order_for_a_phone_is_one_buyers_however_the_number_is_typed(capsys, typed):
    add_shop(capsys)
    out = ok(
        capsys,
        "order", "create", "--shop", "mama-put", "--phone", typed,
        "--amount", "25000", "--description", "Ankara",
    )  # fmt: skip
    ok(
        capsys,
        "order", "create", "--shop", "mama-put", "--phone", "08012345678",
        "--amount", "1000", "--description", "Gele",
    )  # fmt: skip
    with db.session_scope() as session:
        first = orders.get_shop_order(session, "mama-put", out[-1])
        buyer = session.get(Buyer, first.buyer_id)
        assert buyer.phone == "+2348012345678"
        assert len(orders.buyer_orders(session, buyer)) == 2


def test_an_order_for_a_number_that_is_not_one_is_refused_and_nothing_is_made(capsys):
    add_shop(capsys)
    error = fails(
        capsys,
        "order", "create", "--shop", "mama-put", "--phone", "0801 234",
        "--amount", "25000", "--description", "Ankara",
    )  # fmt: skip
    assert "0803 123 4567" in error
    assert ok(capsys, "order", "list", "--shop", "mama-put") == []


def test_an_order_needs_a_phone_or_a_channel_and_buyer(capsys):
    add_shop(capsys)
    error = fails(
        capsys, "order", "create", "--shop", "mama-put", "--amount", "10", "--description", "x"
    )
    assert "--phone" in error


def test_a_whatsapp_order_by_user_id_is_that_accounts(capsys):
    add_shop(capsys)
    bsuid = "NG.8462019375510"
    out = ok(
        capsys,
        "order", "create", "--shop", "mama-put", "--channel", "whatsapp", "--buyer", bsuid,
        "--amount", "25000", "--description", "Ankara",
    )  # fmt: skip
    with db.session_scope() as session:
        buyer = buyers.find_buyer(session, "mama-put", "whatsapp", bsuid)
        assert [o.id for o in orders.buyer_orders(session, buyer)] == [out[-1]]


def test_a_code_template_is_set_with_the_shop_settings(capsys):
    add_shop(capsys)
    out = ok(capsys, "shop", "settings", "mama-put", "--code-template", "trustguard_code")
    assert "code template: trustguard_code (en)" in out
    error = fails(capsys, "shop", "settings", "mama-put", "--code-template", "Bad Name")
    assert "lower-case" in error


def test_db_prune_deletes_delivery_records_older_than_the_retention(capsys, monkeypatch):
    add_shop(capsys)
    for message_id in ("wamid.old", "wamid.recent"):
        inbox.record_send("mama-put", "whatsapp", "1065", PHONE, message_id)
    with db.session_scope() as session:
        session.execute(
            sa.update(OutboundMessage)
            .where(OutboundMessage.platform_message_id == "wamid.old")
            .values(created_at=utcnow() - dt.timedelta(days=9))
        )
    assert ok(capsys, "db", "prune") == [
        "deleted 0 processed inbox messages and 0 delivery records older than 30 days "
        "(INBOX_RETENTION_DAYS)"
    ]
    monkeypatch.setenv("INBOX_RETENTION_DAYS", "8")
    get_settings.cache_clear()
    assert ok(capsys, "db", "prune")[0].startswith("deleted 0 processed inbox messages and 1 ")
    with db.session_scope() as session:
        kept = session.execute(sa.select(OutboundMessage.platform_message_id)).scalars().all()
    assert kept == ["wamid.recent"]


def test_db_prune_refuses_a_retention_meta_could_still_redeliver_within(capsys, monkeypatch):
    monkeypatch.setenv("INBOX_RETENTION_DAYS", "7")
    get_settings.cache_clear()
    assert fails(capsys, "db", "prune") == (
        "python -m bot: error: INBOX_RETENTION_DAYS must be at least 8 "
        "(Meta redelivers webhooks for 7 days), not 7."
    )


def test_an_owner_sees_each_receipt_with_its_verdict_and_the_flagged_ones(capsys):
    """order show lists the order's receipts with their verdicts; order receipts --flagged
    only those to look at. Another shop's receipt is only ever "seen before"."""
    from bench.receipts_corpus import samples
    from bot.shop.receipt_checks import fingerprint
    from bot.shop.receipts import attach_uploaded_receipt

    add_shop(capsys)
    ok(capsys, "shop", "add", "--id", "iya-basket", "--name", "Iya Basket")
    sample = next(iter(samples(1)))
    found = fingerprint(sample.content, sample.content_type)
    made = {}
    for shop_id, buyer_key, kobo in (
        ("iya-basket", "chi", sample.amount_kobo),
        ("mama-put", "ada", sample.amount_kobo + 50_000),
    ):
        with db.session_scope() as session:
            buyer, _ = buyers.get_or_create_buyer(session, shop_id, "rest", buyer_key)
            order = orders.create_order(session, buyer, kobo, "Ankara")
            attach_uploaded_receipt(
                session, buyer, order, sample.content, sample.content_type, found
            )
            made[shop_id] = order.id
    order_id = made["mama-put"]
    order_line, receipt_line = ok(capsys, "order", "show", order_id, "--shop", "mama-put")
    assert order_line.startswith(order_id)
    assert receipt_line.startswith(f"{order_id}\treceipt ")
    verdict = receipt_line.split("\t")[-1]
    assert verdict.startswith("FLAGGED: the same file, seen before;")
    assert made["iya-basket"] not in verdict and "iya" not in verdict.lower()
    amount = f"₦{sample.amount_kobo // 100:,}.00"
    assert f"amount MISMATCH: receipt says {amount}" in verdict
    assert ok(capsys, "order", "receipts", "--shop", "mama-put", "--flagged") == [receipt_line]
    (theirs,) = ok(capsys, "order", "receipts", "--shop", "iya-basket")
    assert made["iya-basket"] in theirs and order_id not in theirs


def test_nlu_check_passes_the_project_data(capsys):
    assert ok(capsys, "nlu", "check") == ["data/shops/: no repeated or contradicting examples"]


def test_nlu_check_refuses_a_contradicting_shop_phrasing(capsys, tmp_path):
    data = tmp_path / "data"
    (data / "shops").mkdir(parents=True)
    (data / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: affirm\n  examples: |\n    - go ahead\n'
    )
    (data / "shops" / "ada.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: deny\n  examples: |\n    - Go ahead\n'
    )
    code, out, err = run(capsys, "nlu", "check", "--data", str(data))
    assert (code, out) == (1, [])
    assert err == [
        "data/shops/ada.yml: intent deny: 'Go ahead' contradicts data/nlu.yml, "
        "where 'go ahead' is intent affirm",
        "python -m bot: error: 1 shop phrasing(s) to fix in data/shops/ (each listed above); "
        "nothing was trained",
    ]
