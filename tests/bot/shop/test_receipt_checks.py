"""The verdict of every receipt: reused, similar, amount and date, with another shop never
named; and the storage it goes to (a local directory, or S3)."""

from __future__ import annotations

import datetime as dt
import stat

import pytest
import sqlalchemy as sa

from bench.receipts_corpus import samples
from bot.platform import db
from bot.platform.models import AuditEvent, Order, Receipt
from bot.platform.storage import FileMissing, FileTooLarge, receipt_store
from bot.platform.storage.local import LocalFileStore
from bot.shop import orders
from bot.shop.buyers import get_or_create_buyer
from bot.shop.receipt_checks import AmountCheck, fingerprint
from bot.shop.receipts import attach_uploaded_receipt
from tests.conftest import BUCKET, make_shop

SAMPLE, OTHER = list(samples(2))


def upload(
    shop_id: str, buyer: str, content: bytes, kobo: int, *, made: dt.datetime | None = None
) -> tuple[str, dict, bool, str]:
    """An order of ``kobo`` for the buyer, and ``content`` uploaded as its receipt: the order id,
    the receipt's verdict, whether it is flagged, and its storage key."""
    found = fingerprint(content, found_type(content))
    with db.session_scope() as session:
        person, _ = get_or_create_buyer(session, shop_id, "rest", buyer)
        order = orders.create_order(session, person, kobo, "Ankara")
        if made:
            order.created_at = made
        receipt = attach_uploaded_receipt(
            session, person, order, content, found_type(content), found
        )
        return order.id, receipt.verdict, receipt.flagged, receipt.storage_key


def found_type(content: bytes) -> str:
    return "image/png" if content.startswith(b"\x89PNG") else "image/jpeg"


@pytest.fixture
def shops() -> None:
    make_shop()
    make_shop("iya-basket", "Iya Basket")


def test_a_matching_receipt_passes(shops) -> None:
    _, verdict, flagged, key = upload("mama-put", "ada", SAMPLE.content, SAMPLE.amount_kobo,
                                      made=dt.datetime(2026, 1, 1))  # fmt: skip
    assert verdict["amount"] == AmountCheck.MATCH and not flagged
    assert (verdict["reused"], verdict["similar"], verdict["dated_before_order"]) == (False,) * 3
    assert receipt_store().get(key, 10 * 1024 * 1024) == SAMPLE.content
    assert key.startswith("shops/mama-put/orders/ORD-")


def test_an_amount_that_does_not_match_is_flagged_with_both_amounts(shops) -> None:
    _, verdict, flagged, _ = upload("mama-put", "ada", SAMPLE.content, SAMPLE.amount_kobo + 100,
                                    made=dt.datetime(2026, 1, 1))  # fmt: skip
    assert flagged and verdict["amount"] == "mismatch"
    assert verdict["amount_read_kobo"] == SAMPLE.amount_kobo
    assert verdict["amount_expected_kobo"] == SAMPLE.amount_kobo + 100


def test_a_receipt_dated_before_the_order_is_flagged(shops) -> None:
    made = dt.datetime.combine(SAMPLE.paid_on + dt.timedelta(days=2), dt.time(9))
    _, verdict, flagged, _ = upload(
        "mama-put", "ada", SAMPLE.content, SAMPLE.amount_kobo, made=made
    )
    assert flagged and verdict["dated_before_order"]
    assert verdict["paid_on"] == SAMPLE.paid_on.isoformat()


def test_the_same_file_on_another_order_is_reused_and_another_shop_is_never_named(shops) -> None:
    first, *_ = upload("mama-put", "ada", SAMPLE.content, SAMPLE.amount_kobo)
    _, here, flagged_here, _ = upload("mama-put", "bola", SAMPLE.content, SAMPLE.amount_kobo)
    _, there, flagged_there, _ = upload("iya-basket", "chi", SAMPLE.content, SAMPLE.amount_kobo)
    assert flagged_here and here["reused"] and here["reused_order"] == first
    assert flagged_there and there["reused"] and there["reused_order"] is None
    with db.session_scope() as session:
        details = session.execute(
            sa.select(AuditEvent.detail).where(AuditEvent.shop_id == "iya-basket")
        ).scalars()
        assert all("mama-put" not in str(d) and first not in str(d) for d in details)


def test_a_re_screenshot_is_similar_and_another_transfer_is_not(shops) -> None:
    first, *_ = upload("mama-put", "ada", SAMPLE.content, SAMPLE.amount_kobo)
    _, verdict, flagged, _ = upload("mama-put", "bola", SAMPLE.rescreen, SAMPLE.amount_kobo)
    assert flagged and verdict["similar"] and verdict["similar_order"] == first
    assert not verdict["reused"]
    _, other, _, _ = upload("mama-put", "chi", OTHER.content, OTHER.amount_kobo)
    assert not other["similar"] and not other["reused"]


def test_local_files_are_their_owners_only(tmp_path) -> None:
    store = LocalFileStore(tmp_path / "receipts")
    store.put("shops/mama-put/orders/ORD-1/receipts/a.pdf", b"%PDF-1", "application/pdf")
    path = tmp_path / "receipts/shops/mama-put/orders/ORD-1/receipts/a.pdf"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (path.parent, *path.parent.parents):
        if directory == tmp_path:
            break
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    with pytest.raises(FileTooLarge):
        store.get("shops/mama-put/orders/ORD-1/receipts/a.pdf", 3)
    store.delete("shops/mama-put/orders/ORD-1/receipts/a.pdf")
    with pytest.raises(FileMissing):
        store.get("shops/mama-put/orders/ORD-1/receipts/a.pdf", 100)


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/path", "shops/../../x", "a//b", ""])
def test_a_key_that_is_not_a_plain_relative_path_is_refused(tmp_path, key: str) -> None:
    root = tmp_path / "receipts"
    with pytest.raises(ValueError):
        LocalFileStore(root).put(key, b"x", "image/png")
    assert not root.exists()


def test_with_a_bucket_receipts_go_to_s3(s3, shops) -> None:
    _, _, _, key = upload("mama-put", "ada", SAMPLE.content, SAMPLE.amount_kobo)
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == SAMPLE.content
    with db.session_scope() as session:
        assert session.execute(sa.select(Receipt.storage_key)).scalar_one() == key
        assert session.execute(sa.select(sa.func.count()).select_from(Order)).scalar() == 1
