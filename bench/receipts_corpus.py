"""A generated corpus of bank-transfer receipt screenshots, the same for a given seed.

Each receipt is drawn with Pillow in one of several bank-app layouts, with its own amount, date,
reference, names, fonts (Debian's DejaVu families), sizes and colours, then given noise, a
little blur and JPEG (or PNG) compression. Each has a re-screenshot: the same picture scaled,
cropped (a status bar, the edges) and recompressed, as a buyer passing someone else's receipt
off as theirs would make it.

    python -m bench.receipts_corpus --count 5 --out /tmp/corpus   # look at a few
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

SEED = 2026
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = (
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"),
    ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
)
BANKS = ("GTBank", "Access Bank", "Zenith Bank", "First Bank", "UBA", "Opay", "Moniepoint", "Kuda")
NAMES = (
    "ADEYEMI KEMI",
    "OKAFOR CHINEDU",
    "BELLO AMINA",
    "EZE NGOZI",
    "OGUNLEYE TUNDE",
    "IBRAHIM MUSA",
    "NWOSU ADA",
    "ADEBAYO FOLAKE",
)
AMOUNT_LABELS = ("Amount", "Transaction Amount", "Amount Paid", "Amount")
REFERENCE_LABELS = ("Reference", "Transaction Ref", "Session ID", "Reference No")
DATE_FORMATS = ("%d %b %Y, %H:%M", "%d/%m/%Y %H:%M", "%b %d, %Y %I:%M %p", "%Y-%m-%d %H:%M:%S")
CURRENCY = ("₦", "NGN ", "₦")
THEMES = ((0, 122, 61), (222, 88, 0), (200, 16, 46), (0, 51, 153), (75, 0, 130), (20, 20, 20))


@dataclass(frozen=True)
class Sample:
    """A receipt, what it says, and its re-screenshot."""

    number: int
    content: bytes
    content_type: str
    amount_kobo: int
    paid_on: dt.date
    paid_time: dt.time
    reference: str
    rescreen: bytes


def samples(count: int, seed: int = SEED) -> Iterator[Sample]:
    rng = random.Random(seed)
    for number in range(count):
        yield _sample(number, rng)


def _sample(number: int, rng: random.Random) -> Sample:
    naira = rng.choice([rng.randrange(500, 20_000, 50), rng.randrange(20_000, 2_000_000, 500)])
    kobo = naira * 100 + rng.choice([0, 0, 0, 50])
    when = dt.datetime(2026, 1, 1, 8) + dt.timedelta(minutes=rng.randrange(0, 330 * 24 * 60))
    reference = _reference(rng)
    picture = _draw(rng, kobo, when, reference)
    picture = _degrade(rng, picture)
    content, content_type = _encode(rng, picture)
    return Sample(
        number=number,
        content=content,
        content_type=content_type,
        amount_kobo=kobo,
        paid_on=when.date(),
        paid_time=when.time(),
        reference=reference,
        rescreen=_rescreen(rng, Image.open(io.BytesIO(content)).convert("RGB")),
    )


def _reference(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return "".join(rng.choice("0123456789") for _ in range(18))  # NIBSS session id style
    if kind == 1:
        return "FT" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(12))
    return "".join(rng.choice("0123456789") for _ in range(12))


def _money(kobo: int, currency: str) -> str:
    return f"{currency}{kobo // 100:,}.{kobo % 100:02d}"


def _draw(rng: random.Random, kobo: int, when: dt.datetime, reference: str) -> Image.Image:
    width = rng.choice([540, 600, 720, 750, 828, 1080])
    scale = width / 720
    regular_name, bold_name = rng.choice(FONTS)
    size = round(rng.randint(24, 30) * scale)

    def font(bold: bool, points: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(FONT_DIR / (bold_name if bold else regular_name)), points)

    theme = rng.choice(THEMES)
    dark = rng.random() < 0.2
    background = (18, 18, 22) if dark else rng.choice([(255, 255, 255), (246, 247, 249)])
    ink = (235, 235, 235) if dark else (25, 25, 25)
    muted = (150, 150, 150) if dark else (110, 110, 110)
    height = round(width * rng.uniform(1.6, 2.1))
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    margin = round(48 * scale)
    layout = rng.randrange(3)
    y = round(rng.uniform(60, 140) * scale)
    bank = rng.choice(BANKS)
    if layout == 0:  # a coloured band with the bank's name
        draw.rectangle([0, 0, width, y + size * 2], fill=theme)
        draw.text((margin, y), bank, font=font(True, size), fill=(255, 255, 255))
        y += size * 4
    else:
        draw.text((margin, y), bank, font=font(True, size), fill=theme)
        y += size * 2
    title = rng.choice(["Transfer Successful", "Transaction Receipt", "Payment Successful"])
    draw.text((margin, y), title, font=font(False, size), fill=muted)
    y += round(size * 1.8)
    currency = rng.choice(CURRENCY)
    big = round(size * rng.uniform(1.8, 2.4))
    draw.text((margin, y), _money(kobo, currency), font=font(True, big), fill=theme)
    y += round(big * 1.9)
    sender, beneficiary = rng.sample(NAMES, 2)
    rows = [
        (rng.choice(AMOUNT_LABELS), _money(kobo, currency)),
        ("Beneficiary", beneficiary),
        ("Beneficiary Bank", rng.choice(BANKS)),
        ("Account Number", "".join(rng.choice("0123456789") for _ in range(10))),
        ("Sender", sender),
        (rng.choice(REFERENCE_LABELS), reference),
        ("Date", when.strftime(rng.choice(DATE_FORMATS))),
        ("Narration", rng.choice(["Payment", "For order", "Ankara", "Thanks", "Transfer"])),
    ]
    head, tail = rows[:1], rows[1:]
    rng.shuffle(tail)
    value_x = round(width * rng.uniform(0.42, 0.5))
    for label, value in head + tail:
        if layout == 2:  # label above value
            draw.text((margin, y), label, font=font(False, round(size * 0.8)), fill=muted)
            y += round(size * 1.1)
            draw.text((margin, y), value, font=font(True, size), fill=ink)
            y += round(size * 1.9)
        else:
            draw.text((margin, y), label, font=font(False, size), fill=muted)
            draw.text((value_x, y), value, font=font(False, size), fill=ink)
            y += round(size * 2.0)
        if y > height - size * 3:
            break
    return image


def _degrade(rng: random.Random, image: Image.Image) -> Image.Image:
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    noise = Image.effect_noise(image.size, rng.uniform(4, 14)).convert("RGB")
    return Image.blend(image, noise, rng.uniform(0.03, 0.08))


def _encode(rng: random.Random, image: Image.Image) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    if rng.random() < 0.25:
        image.save(buffer, "PNG")
        return buffer.getvalue(), "image/png"
    image.save(buffer, "JPEG", quality=rng.randint(45, 95))
    return buffer.getvalue(), "image/jpeg"


def _rescreen(rng: random.Random, image: Image.Image) -> bytes:
    """Another screenshot of the same receipt: scaled, cropped, recompressed."""
    width, height = image.size
    top = round(height * rng.uniform(0, 0.06))  # a status bar, or part of one
    left, right = (round(width * rng.uniform(0, 0.03)) for _ in range(2))
    bottom = round(height * rng.uniform(0, 0.05))
    image = image.crop((left, top, width - right, height - bottom))
    factor = rng.uniform(0.6, 1.4)
    image = image.resize((round(image.width * factor), round(image.height * factor)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=rng.randint(40, 85))
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receipts_corpus")
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for sample in samples(args.count, args.seed):
        extension = "png" if sample.content_type == "image/png" else "jpg"
        (args.out / f"{sample.number:03d}.{extension}").write_bytes(sample.content)
        (args.out / f"{sample.number:03d}-rescreen.jpg").write_bytes(sample.rescreen)
        print(sample.number, _money(sample.amount_kobo, "₦"), sample.paid_on, sample.reference)


if __name__ == "__main__":
    main()
