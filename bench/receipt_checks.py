"""The receipt checks on the generated corpus (``bench.receipts_corpus``, fixed seed): how often
the amount, date and reference are read right, whether every re-screenshot is found similar to
its original and no two distinct receipts are, and the time each receipt costs.

Two baselines in the same run: the perceptual hash alone (similar = hashes within
PHASH_MAX_DISTANCE, what the check would be without reading the receipts), and the SHA-256
alone (which only ever finds the very same file); and the time of the hashes alone beside the
time of the whole check, whose difference is the reading (OCR).

    python -m bench.receipt_checks [--count 200] [--seed 2026]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import statistics
import time
from dataclasses import dataclass

import imagehash

from bench.receipts_corpus import SEED, Sample, samples
from bot.shop.receipt_checks import (
    PHASH_MAX_DISTANCE,
    Fingerprint,
    alike,
    fingerprint,
    phash_distance,
)
from bot.shop.receipt_reading import open_image, reference_key


@dataclass(frozen=True)
class Read:
    sample: Sample
    original: Fingerprint
    rescreen: Fingerprint
    seconds: float  # fingerprinting the original (hashes and OCR)
    hash_seconds: float  # its SHA-256 and perceptual hash alone


def read_corpus(count: int, seed: int) -> list[Read]:
    reads = []
    for sample in samples(count, seed):
        started = time.perf_counter()
        original = fingerprint(sample.content, sample.content_type)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        hashlib.sha256(sample.content).hexdigest()
        str(imagehash.phash(open_image(sample.content)))
        hash_seconds = time.perf_counter() - started
        rescreen = fingerprint(sample.rescreen, "image/jpeg")
        reads.append(Read(sample, original, rescreen, seconds, hash_seconds))
    return reads


def _same_reference(read: str | None, written: str) -> bool:
    return read is not None and reference_key(read) == reference_key(written)


def share(hits: int, total: int) -> str:
    return f"{hits}/{total} ({100 * hits / total:.1f} %)" if total else "0/0"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(reads: list[Read]) -> None:
    total = len(reads)
    print(f"corpus: {total} receipts and {total} re-screenshots (seed {SEED} by default)\n")
    for label, pick in (
        ("originals", lambda r: r.original),
        ("re-screenshots", lambda r: r.rescreen),
    ):
        amounts = sum(pick(r).reading.amount_kobo == r.sample.amount_kobo for r in reads)
        dates = sum(pick(r).reading.paid_on == r.sample.paid_on for r in reads)
        times = sum(pick(r).reading.paid_time == r.sample.paid_time for r in reads)
        references = sum(
            _same_reference(pick(r).reading.reference, r.sample.reference) for r in reads
        )
        print(f"read from the {label}:")
        print(f"  amount     {share(amounts, total)}")
        print(f"  date       {share(dates, total)}")
        print(f"  time       {share(times, total)}")
        print(f"  reference  {share(references, total)}")

    rescreen_distances = [phash_distance(r.original.phash, r.rescreen.phash) for r in reads]
    pairs = list(itertools.combinations(reads, 2))
    distinct = [(a.original, b.original) for a, b in pairs]
    distinct += [(a.rescreen, b.original) for a, b in itertools.permutations(reads, 2)]
    distinct_distances = [phash_distance(x.phash, y.phash) for x, y in distinct]

    def phash_only(x: Fingerprint, y: Fingerprint) -> bool:
        return phash_distance(x.phash, y.phash) <= PHASH_MAX_DISTANCE

    print(f"\nsimilar (perceptual hash within {PHASH_MAX_DISTANCE} of 64 bits):")
    print("                                    checks        phash alone   sha256 alone")
    found = [alike(r.original, r.rescreen) for r in reads]
    found_phash = [phash_only(r.original, r.rescreen) for r in reads]
    found_sha = [r.original.sha256 == r.rescreen.sha256 for r in reads]
    print(
        f"  re-screenshots found similar      {sum(found):>4}/{total:<8} "
        f"{sum(found_phash):>4}/{total:<8} {sum(found_sha):>4}/{total}"
    )
    false = sum(alike(x, y) for x, y in distinct)
    false_phash = sum(phash_only(x, y) for x, y in distinct)
    false_sha = sum(x.sha256 == y.sha256 for x, y in distinct)
    print(
        f"  distinct pairs called similar     {false:>4}/{len(distinct):<8} "
        f"{false_phash:>4}/{len(distinct):<8} {false_sha:>4}/{len(distinct)}"
    )
    print(
        f"  phash distance, re-screenshot: median {statistics.median(rescreen_distances)}, "
        f"max {max(rescreen_distances)}; distinct pairs: min {min(distinct_distances)}, "
        f"median {statistics.median(distinct_distances)}"
    )
    for read, hit in zip(reads, found, strict=True):
        if not hit:
            print(
                f"  missed: receipt {read.sample.number}, distance "
                f"{phash_distance(read.original.phash, read.rescreen.phash)}, read "
                f"{read.original.reading} and {read.rescreen.reading}"
            )
    print("\ntime per receipt             p50        p95        max")
    for label, values in (
        ("checks (hashes + OCR)", [r.seconds for r in reads]),
        ("hashes alone", [r.hash_seconds for r in reads]),
    ):
        print(
            f"  {label:<24} {percentile(values, 0.5):>7.3f} s  {percentile(values, 0.95):>7.3f} s"
            f"  {max(values):>7.3f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receipt_checks")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    report(read_corpus(args.count, args.seed))


if __name__ == "__main__":
    main()
