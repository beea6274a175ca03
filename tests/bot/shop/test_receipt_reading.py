"""Reading a receipt: the amount, date and reference, from OCR text as Tesseract gives it and
from a PDF's text layer; and a slice of the generated corpus read end to end."""

from __future__ import annotations

import datetime as dt
import itertools
import zlib

import pytest

from bench.receipts_corpus import samples
from bot.shop.receipt_checks import alike, fingerprint, same_transfer
from bot.shop.receipt_reading import Reading, read_receipt, read_text, reference_key


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("Transfer Successful\n₦25,000.00\nAmount ₦25,000.00\nFee ₦10.75", 2_500_000),
        # The naira sign read as a digit in the heading; the row says what it is.
        ("825,000.00\nAmount #25,000.00", 2_500_000),
        ("N25,000.00\nAmount 825,000.00", 2_500_000),
        # Spaces around separators, the value on the line under its label.
        ("Amount Paid\nN6 , 200.00\nNarration", 620_000),
        ("NGN 1,510,500.00\nSession ID 967452198033", 151_050_000),
        ("Total: NGN 500", 50_000),
        ("Nothing here but 0123456789", None),
    ],
)
def test_the_amount(text: str, amount: int | None) -> None:
    assert read_text(text).amount_kobo == amount


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("Date 12 Mar 2026, 14:05", dt.date(2026, 3, 12)),
        ("Date\n2026-09-14 21:26:00", dt.date(2026, 9, 14)),
        ("Date 04/06/2026 20:46", dt.date(2026, 6, 4)),  # day first, as in Nigeria
        ("Completed Mar 5,2026 09:10 AM", dt.date(2026, 3, 5)),
        ("Date 31/02/2026", None),
    ],
)
def test_the_date(text: str, date: dt.date | None) -> None:
    assert read_text(text).paid_on == date


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("Date 12 Mar 2026, 14:05", dt.time(14, 5)),
        ("Date Mar 5, 2026 09:10 PM", dt.time(21, 10)),
        ("Date 2026-09-14 21:26:00", dt.time(21, 26)),
        ("Date 12/03/2026", None),
    ],
)
def test_the_time_beside_the_date(text: str, time: dt.time | None) -> None:
    assert read_text(text).paid_time == time


def test_two_readings_are_one_transfer_unless_something_read_differs() -> None:
    day, minute = dt.date(2026, 3, 12), dt.time(14, 5)
    one = Reading(2_500_000, day, "FTTPFQGR3JZZS5", minute)
    assert same_transfer(one, Reading(2_500_000, day, "FTTPFQGR3J2ZS5", minute))  # misread
    # A garbled reference: the same amount at the same minute is still the same transfer...
    assert same_transfer(one, Reading(2_500_000, day, "EFELPROGR3IZZ5S5", minute))
    # ...but at another minute, or for another amount, it is another transfer.
    assert not same_transfer(one, Reading(2_500_000, day, "EFELPROGR3IZZ5S5", dt.time(14, 6)))
    assert not same_transfer(one, Reading(2_400_000, day, "FT9KWFLVFRFYLS", minute))
    assert not same_transfer(Reading(100, day), Reading(200, day))
    assert same_transfer(Reading(100, day), Reading(100, None))


def test_the_reference_and_its_look_alike_characters() -> None:
    assert read_text("Reference No FTM3RB0HG8MSWW\nDate").reference == "FTM3RB0HG8MSWW"
    assert read_text("Session ID\n9084 5205 9972 8379").reference == "9084520599728379"
    assert reference_key("FTM3RBOHG8MSWW") == reference_key("FTM3RB0HG8MSWW")


def _pdf(text: str) -> bytes:
    """A one-page PDF whose text layer says ``text`` (one line per line)."""
    lines = "".join(f"({line}) Tj 0 -20 Td " for line in text.splitlines())
    stream = zlib.compress(f"BT /F1 12 Tf 50 750 Td {lines}ET".encode())
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_a_pdf_is_read_from_its_text_layer() -> None:
    pdf = _pdf("GTBank Transfer Receipt\nAmount: NGN 25,000.00\nReference: FT2403121234567\n"
               "Date: 12 Mar 2026")  # fmt: skip
    assert read_receipt(pdf, "application/pdf") == Reading(
        2_500_000, dt.date(2026, 3, 12), "FT2403121234567"
    )  # no time on the receipt


def test_what_cannot_be_read_is_unreadable() -> None:
    assert read_receipt(b"%PDF-1.4 not really", "application/pdf") == Reading()
    assert read_receipt(b"\xff\xd8\xff not an image", "image/jpeg") == Reading()


def test_a_slice_of_the_corpus() -> None:
    """What bench.receipt_checks measures on 200 receipts, on 20: amounts read, every
    re-screenshot similar to its original, no two distinct receipts similar."""
    read = [
        (sample, fingerprint(sample.content, sample.content_type),
         fingerprint(sample.rescreen, "image/jpeg"))
        for sample in samples(20)
    ]  # fmt: skip
    right = sum(original.reading.amount_kobo == sample.amount_kobo for sample, original, _ in read)
    assert right >= 19
    assert all(alike(original, rescreen) for _, original, rescreen in read)
    for (_, one, one_again), (_, other, _) in itertools.permutations(read, 2):
        assert not alike(one, other) and not alike(one_again, other)
