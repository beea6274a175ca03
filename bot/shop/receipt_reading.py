"""What a bank-transfer receipt says: its amount, date and transfer reference.

A PDF's text layer is read first (pypdf); a photo or screenshot is read with Tesseract OCR
(Debian's ``tesseract-ocr``, through pytesseract). The text is then searched the way a person
reads a receipt: the amount on the line that says "amount" (else the one repeated most), the
date on the line that says "date", the reference on the line that says "reference".
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytesseract
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.errors import PyPdfError

logger = logging.getLogger(__name__)

# Larger images are read at this size: Tesseract's accuracy does not need more, and its time
# grows with the pixels. Smaller ones are enlarged: it reads text 20 px high or more best.
_OCR_LONG_SIDE = 2000
_OCR_MIN_WIDTH = 1000
# A 10 MiB PNG can hold a picture far larger than any screenshot (a decompression bomb).
MAX_PIXELS = 40_000_000
_PDF_PAGES = 3
_TESSERACT_TIMEOUT_S = 30
# One column of text of varying sizes: a receipt's rows stay whole (label beside its value),
# where automatic page segmentation reads the labels and the values as two columns.
_TESSERACT_CONFIG = "--psm 4"

# 25,000.00 · 25 000.00 · 25000.00 · 25,000; after a currency sign also 25000.
_MONEY = r"\d{1,3}(?:[,\s]\d{3})+(?:\.\d{2})?|\d+\.\d{2}"
_MONEY_RE = re.compile(rf"(?<![\d.,])(?:{_MONEY})(?![\d,]|\.\d)")
_SIGNED_MONEY_RE = re.compile(r"(?:₦|NGN|N|#)\s?(\d+(?:\.\d{2})?)(?![\d,.])")
_SPACED_SEPARATOR_RE = re.compile(r"(?<=\d)\s*([,.])\s*(?=\d)")
_AMOUNT_LABEL_RE = re.compile(r"(?i)\b(amount|total|sum|paid|transferred|debited)\b")
_DATE_LABEL_RE = re.compile(r"(?i)\b(date|time|paid on|completed)\b")
_REFERENCE_LABEL_RE = re.compile(
    r"(?i)\b(ref(?:erence)?(?:\s*(?:no|number))?|session\s*id|transaction\s*(?:id|no|number))\b"
)
_REFERENCE_TOKEN_RE = re.compile(r"[A-Z0-9][A-Z0-9/-]{7,}")
_TIME_RE = re.compile(r"\b(\d{1,2}):(\d{2})(?::\d{2})?\s*([AaPp][Mm])?\b")
_LOOK_ALIKES = str.maketrans("OIlSBZ", "011582")
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
# 12 Mar 2026 · 12th March, 2026 · Mar 12, 2026 · 2026-03-12 · 12/03/2026 (day first, Nigeria).
_DATE_RES = (
    (
        re.compile(rf"(?i)\b(\d{{1,2}})(?:st|nd|rd|th)?[\s-]+({_MONTH})\.?,?[\s-]+(\d{{4}})\b"),
        "dmy",
    ),
    (re.compile(rf"(?i)\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s*(\d{{4}})\b"), "mdy"),
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "ymd"),
    (re.compile(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\b"), "dmy"),
)


@dataclass(frozen=True)
class Reading:
    """What could be read; None for what could not."""

    amount_kobo: int | None = None
    paid_on: dt.date | None = None
    reference: str | None = None
    paid_time: dt.time | None = None  # to the minute, when the receipt shows it


def read_receipt(content: bytes, content_type: str) -> Reading:
    """The amount, date and reference of a receipt's file; an empty Reading when nothing can
    be read (no text layer in a PDF, OCR not installed, a broken or enormous image)."""
    text = receipt_text(content, content_type)
    return read_text(text) if text else Reading()


def receipt_text(content: bytes, content_type: str) -> str:
    if content_type == "application/pdf":
        return _pdf_text(content)
    image = open_image(content)
    if image is None:
        return ""
    try:
        return pytesseract.image_to_string(
            _for_ocr(image), config=_TESSERACT_CONFIG, timeout=_TESSERACT_TIMEOUT_S
        )
    except (pytesseract.TesseractError, pytesseract.TesseractNotFoundError, RuntimeError) as error:
        # RuntimeError: pytesseract's timeout.
        logger.warning("receipt not read by OCR", extra={"error": type(error).__name__})
        return ""


def open_image(content: bytes) -> Image.Image | None:
    """The picture in ``content``, upright, or None when it is not one Pillow can safely open."""
    try:
        image = Image.open(io.BytesIO(content))
        if image.width * image.height > MAX_PIXELS:
            return None
        image.load()
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _for_ocr(image: Image.Image) -> Image.Image:
    gray = ImageOps.grayscale(image)
    long_side = max(gray.size)
    if long_side > _OCR_LONG_SIDE:
        gray.thumbnail((_OCR_LONG_SIDE, _OCR_LONG_SIDE), Image.Resampling.LANCZOS)
    elif gray.width < _OCR_MIN_WIDTH:
        scale = _OCR_MIN_WIDTH / gray.width
        gray = gray.resize((_OCR_MIN_WIDTH, round(gray.height * scale)), Image.Resampling.LANCZOS)
    return gray


def _pdf_text(content: bytes) -> str:
    try:
        reader = PdfReader(io.BytesIO(content))
        return "\n".join(page.extract_text() or "" for page in reader.pages[:_PDF_PAGES])
    except (PyPdfError, OSError, ValueError) as error:
        logger.warning("receipt pdf not read", extra={"error": type(error).__name__})
        return ""


def read_text(text: str) -> Reading:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    paid_on, paid_time = _when(lines)
    return Reading(
        amount_kobo=_amount(lines),
        paid_on=paid_on,
        reference=_reference(lines),
        paid_time=paid_time,
    )


def _amount(lines: list[str]) -> int | None:
    """The amount after the first label that has one (on its line or the next), else the
    amount written most often (a receipt repeats it: a large heading, then the "Amount" row)."""
    everywhere = [kobo for line in lines for kobo in _money_in(line)]
    for after in _after_labels(lines, _AMOUNT_LABEL_RE):
        found = _money_in(after)
        if found:
            return _sign_read_as_digit(found[0], everywhere)
    if not everywhere:
        return None
    return _sign_read_as_digit(Counter(everywhere).most_common(1)[0][0], everywhere)


def _sign_read_as_digit(kobo: int, candidates: list[int]) -> int:
    """OCR reads "₦" as a digit now and then ("₦1,500.00" as "81,500.00"): when the same
    amount without that first digit is written elsewhere on the receipt, it is the one."""
    digits = str(kobo)
    shorter = int(digits[1:]) if len(digits) > 1 else None
    return shorter if shorter in candidates else kobo


def _after_labels(lines: list[str], label: re.Pattern[str]) -> Iterator[str]:
    """For each line with the label: what follows it there, or the next line when nothing does
    (a layout that puts each value under its label)."""
    for number, line in enumerate(lines):
        found = label.search(line)
        if not found:
            continue
        rest = line[found.end() :].strip(" :")
        if rest:
            yield rest
        elif number + 1 < len(lines):
            yield lines[number + 1]


def _money_in(text: str) -> list[int]:
    # OCR puts spaces around separators: "N6 , 200.00".
    text = _SPACED_SEPARATOR_RE.sub(r"\1", text)
    found = [_kobo(match.group(0)) for match in _MONEY_RE.finditer(text)]
    found += [_kobo(match.group(1)) for match in _SIGNED_MONEY_RE.finditer(text)]
    return [kobo for kobo in found if kobo]


def _kobo(written: str) -> int:
    naira, _, kobo = re.sub(r"[,\s]", "", written).partition(".")
    return int(naira) * 100 + int(kobo or 0)


def _when(lines: list[str]) -> tuple[dt.date | None, dt.time | None]:
    """The date on the line that says "date" (else the first date anywhere), and the time of
    day written beside it."""
    labelled = [line for line in lines if _DATE_LABEL_RE.search(line)]
    for line in (*labelled, *lines):
        found = _date_in(line)
        if found:
            return found, _time_in(line)
    return None, None


def _time_in(text: str) -> dt.time | None:
    match = _TIME_RE.search(text)
    if not match:
        return None
    hour, minute, half = int(match.group(1)), int(match.group(2)), (match.group(3) or "").lower()
    if half:
        hour = hour % 12 + (12 if half == "pm" else 0)
    try:
        return dt.time(hour, minute)
    except ValueError:
        return None


def _date_in(text: str) -> dt.date | None:
    for pattern, order in _DATE_RES:
        for match in pattern.finditer(text):
            first, second, third = match.groups()
            try:
                if order == "ymd":
                    return dt.date(int(first), int(second), int(third))
                if order == "mdy":
                    return dt.date(int(third), _month(first), int(second))
                month = _month(second) if not second.isdigit() else int(second)
                return dt.date(int(third), month, int(first))
            except ValueError:
                continue
    return None


def _month(name: str) -> int:
    return _MONTHS[name.lower()]


def _reference(lines: list[str]) -> str | None:
    """The longest reference-looking token after the first reference label that has one."""
    for after in _after_labels(lines, _REFERENCE_LABEL_RE):
        tokens = _REFERENCE_TOKEN_RE.findall(after.upper().replace(" ", ""))
        if tokens:
            return max(tokens, key=len)[:64]
    return None


def reference_key(reference: str) -> str:
    """A reference as compared: OCR reads the same character as O or 0, I or 1, S or 5."""
    return reference.upper().translate(_LOOK_ALIKES)
