"""``python -m bench.buyer_text``: what one buyer message costs the server before and around NLU,
short or long, ordinary or built to be slow. Every message is cut to WhatsApp's 4096 characters
(``bot.meta.typed``), its codes, tokens and signed URLs are redacted for the logs and the
conversation history (``bot.platform.masking``), and ids and codes become placeholders for the
featurizers (``connectors.tokenizer``). Each of those must take time linear in the text, or one
message could hold a server's event loop for minutes. The baseline, in the same run, is the
obvious way: the regexes and the all-pairs tokenizer loop this project had before.

    python -m bench.buyer_text [--repeat 200]
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from bench.reporting import markdown_table, percentile_ms, print_section
from bench.runs import positive, run_benchmark
from bot.meta.typed import as_typed
from bot.platform.masking import REDACTED, redact_text
from bot.platform.patterns import OTP_CODE_PATTERN
from connectors.tokenizer import PLACEHOLDERS, PlaceholderWhitespaceTokenizer

SHORT = "abeg confirm ORD-7F3K9Q, my code na K7#M@P2Q"
ORDINARY = ("I paid for ORD-7F3K9Q yesterday, please check the transfer and confirm. " * 60)[:4096]
BUILT_TO_BE_SLOW = {
    "eyJ repeated": "eyJ" * 1366,
    "http:// repeated": "http://" * 585,
    "order ids, no spaces": ",".join(["ORD-7F3K9Q"] * 372),
}
# Long enough to show the shape of the baseline's cost, short enough to finish in seconds.
BASELINE_LIMIT = 4096
OBVIOUS_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
OBVIOUS_SIGNED_QUERY = re.compile(r"(https?://[^\s?]+)\?[^\s]+")
OBVIOUS_PHONE = re.compile(r"(?<![\w-])\+?\d[\d ]{6,18}(\d{4})(?!\w)")
OTP = re.compile(OTP_CODE_PATTERN)


def obvious_redact(text: str) -> str:
    text = OBVIOUS_JWT.sub(REDACTED, text)
    text = OBVIOUS_SIGNED_QUERY.sub(lambda m: f"{m.group(1)}?{REDACTED}", text)
    text = OTP.sub(REDACTED, text)
    return OBVIOUS_PHONE.sub(lambda m: "***" + m.group(1), text)


def obvious_placeholders(tokenizer: WhitespaceTokenizer, text: str) -> None:
    message = Message(data={"text": text})
    tokens = WhitespaceTokenizer.tokenize(tokenizer, message, "text")
    spans = [
        (match.start(), match.end(), placeholder)
        for pattern, placeholder in PLACEHOLDERS
        for match in pattern.finditer(text)
    ]
    for token in tokens:
        for start, end, placeholder in spans:
            if token.start < end and start < token.end:
                token.text = placeholder


def timed(work: Callable[[], object], repeat: int) -> list[float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return seconds


def run(args: argparse.Namespace) -> int:
    tokenizer = PlaceholderWhitespaceTokenizer(PlaceholderWhitespaceTokenizer.get_default_config())

    def ours(text: str) -> Callable[[], object]:
        def work() -> None:
            typed = as_typed(text)
            redact_text(typed)
            tokenizer.tokenize(Message(data={"text": typed}), "text")

        return work

    def baseline(text: str) -> Callable[[], object]:
        def work() -> None:
            obvious_redact(text)
            obvious_placeholders(tokenizer, text)

        return work

    messages = {"short": SHORT, "ordinary, 4096 characters": ORDINARY}
    messages |= {f"{name}, 4096": text[:4096] for name, text in BUILT_TO_BE_SLOW.items()}
    messages |= {f"{name}, 40 KB": text * 10 for name, text in BUILT_TO_BE_SLOW.items()}
    short_p50 = percentile_ms(timed(ours(SHORT), args.repeat), 50)
    rows = []
    for name, text in messages.items():
        mine = timed(ours(text), args.repeat)
        theirs = timed(baseline(text), 5) if len(text) <= BASELINE_LIMIT else []
        p50 = percentile_ms(mine, 50)
        rows.append(
            [
                name,
                len(text),
                f"{p50:.3f}",
                f"{percentile_ms(mine, 99):.3f}",
                f"{p50 / short_p50:.1f}x",
                f"{percentile_ms(theirs, 50):.1f}" if theirs else "not run",
                f"{percentile_ms(theirs, 50) / p50:.0f}x" if theirs else "",
            ]
        )
    headers = [
        "message",
        "characters",
        "ours p50 ms",
        "ours p99 ms",
        "ours / short",
        "baseline p50 ms",
        "baseline / ours",
    ]
    print_section(f"Cost per message ({args.repeat} runs each)", markdown_table(headers, rows))
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.buyer_text", description=__doc__)
    parser.add_argument("--repeat", type=positive, default=200)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_benchmark("What a buyer message costs", "bench.buyer_text", parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
