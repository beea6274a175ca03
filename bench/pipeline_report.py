"""The tables and the chart of the pipeline benchmark: the commands it runs, the cost of each
configuration, the conversations at every point and ours against the default, understanding
(CV, held-out, as served, message by message, by fallback threshold), and the goals."""

from __future__ import annotations

import argparse
import math
import shlex
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.pipeline_heldout import ISSUED_PER_KIND
from bench.pipeline_load import CHANNELS, Served
from bench.pipeline_scoring import (
    CV_SEED,
    NluScore,
    Parsed,
    answers_at,
    asked_first,
    confusion,
    cv_args,
    entities_right,
    fallback_share,
    fully_right,
    heldout_args,
    opposites,
    served_accuracy,
    top_intent,
)
from bench.pipeline_stacks import CANDIDATES, Trained, train_args
from bench.procfs import MIB
from bench.reporting import markdown_table, percentile_ms, verdict
from bot.launcher import rasa_server_command

GOAL_SPEEDUP = 3.0
GOAL_P95_MS = 1000.0
GOAL_P95_CONCURRENCY = 16
GOAL_HELDOUT_ACCURACY = 0.97
SWEEP_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
NAMES = ("ours", "default")


def commands(args: argparse.Namespace) -> str:
    """The Rasa commands this run executes, its temporary directory shown as TMP."""
    tmp = Path("TMP")
    env = {"RASA_PORT": "PORT", "RASA_API_TOKEN": "TOKEN"}
    lines = []
    for candidate in CANDIDATES:
        model = tmp / "models" / f"{candidate.name}.tar.gz"
        lines += [
            train_args(candidate, tmp / "models"),
            rasa_server_command(model, env),
            heldout_args(model, tmp / f"heldout-{candidate.name}"),
            cv_args(candidate, args.folds, CV_SEED, tmp / f"cv-{candidate.name}-{CV_SEED}"),
        ]
    shown = [shlex.join([Path(line[0]).name, *line[1:]]) for line in lines]
    return "```\n" + "\n".join(shown) + "\n```"


def ratio(ours: float, default: float) -> str:
    return f"{ours / default:.2f}x" if default else "n/a"


def cost_table(trained: dict[str, Trained], served: dict[str, Served]) -> str:
    turns = served["ours"].turns_served
    measures: list[tuple[str, Callable[[str], float], str]] = [
        ("training, cold cache (s)", lambda n: trained[n].seconds, "{:.0f}"),
        ("model size (MiB)", lambda n: trained[n].model.stat().st_size / MIB**2, "{:.1f}"),
        ("action server start-up until /health is 200 (s)",
         lambda n: served[n].actions_startup_seconds, "{:.1f}"),
        ("Rasa server start-up until /status is 200 (s)",
         lambda n: served[n].startup_seconds, "{:.1f}"),
        ("first reply after start-up, REST (ms)",
         lambda n: served[n].first_reply_ms["rest"], "{:.0f}"),
        ("Rasa server RSS after start-up (MiB)", lambda n: served[n].rss_start[0], "{:.0f}"),
        (f"Rasa server RSS after {turns} turns (MiB)", lambda n: served[n].rss_after[0], "{:.0f}"),
        ("action server RSS after start-up (MiB)", lambda n: served[n].rss_start[1], "{:.0f}"),
        (f"action server RSS after {turns} turns (MiB)",
         lambda n: served[n].rss_after[1], "{:.0f}"),
    ]  # fmt: skip
    rows = [
        [label, *(fmt.format(get(n)) for n in NAMES), ratio(get("ours"), get("default"))]
        for label, get, fmt in measures
    ]
    rows += [
        [
            "other processes' CPU during its training",
            *(f"{trained[n].other_cpu:.0%}" for n in NAMES),
            "",
        ],
        [
            "other processes' CPU during its start-up",
            *(f"{served[n].startup_other_cpu:.0%}" for n in NAMES),
            "",
        ],
    ]
    return markdown_table(["", "ours", "default", "ours/default"], rows)


def load_table(served: dict[str, Served], concurrency: Sequence[int]) -> str:
    rows = []
    for channel in CHANNELS:
        for level in concurrency:
            for name in NAMES:
                run = served[name].run(channel, level)
                latencies = (f"{run.percentile_ms(p):.0f}" for p in (50, 95, 99))
                cpu = served[name].cpu_ms[(channel, level)]
                other = served[name].other_cpu[(channel, level)]
                rows.append(
                    [channel, level, name, len(run.turns), f"{run.turns_per_second:.1f}",
                     *latencies, f"{cpu:.0f}", f"{run.expected_share:.1%}", f"{other:.0%}"]
                )  # fmt: skip
    headers = ["channel", "concurrent", "config", "turns", "turns/s", "p50 ms", "p95 ms", "p99 ms"]
    headers += ["Rasa CPU ms/turn", "expected reply", "other processes' CPU"]
    return markdown_table(headers, rows)


def ratio_table(served: dict[str, Served], concurrency: Sequence[int]) -> str:
    rows = []
    for channel in CHANNELS:
        for level in concurrency:
            ours, default = (
                served["ours"].run(channel, level),
                served["default"].run(channel, level),
            )
            rows.append(
                [
                    channel,
                    level,
                    ratio(ours.turns_per_second, default.turns_per_second),
                    ratio(default.percentile_ms(50), ours.percentile_ms(50)),
                    ratio(default.percentile_ms(95), ours.percentile_ms(95)),
                ]
            )
    headers = ["channel", "concurrent", "turns/s ours/default", "p50 default/ours"]
    return markdown_table([*headers, "p95 default/ours"], rows)


def understanding_table(
    cv: dict[str, NluScore], heldout: dict[str, NluScore], served: dict[str, Served]
) -> str:
    def pair(values: dict[str, float], fmt: str = "{:.3f}") -> list[str]:
        return [fmt.format(values[n]) for n in NAMES]

    parsed = {name: served[name].parsed for name in served}
    right = {name: entities_right(parsed[name]) for name in parsed}
    extractors = " / ".join(cv[n].entity_extractor for n in NAMES)
    rows = [
        ["CV intent macro-F1", *pair({n: cv[n].intent_macro_f1 for n in cv})],
        ["CV intent accuracy", *pair({n: cv[n].intent_accuracy for n in cv})],
        [f"CV entity macro-F1 ({extractors})", *pair({n: cv[n].entity_macro_f1 for n in cv})],
        ["held-out intent accuracy", *pair({n: heldout[n].intent_accuracy for n in heldout})],
        ["held-out intent macro-F1", *pair({n: heldout[n].intent_macro_f1 for n in heldout})],
        ["held-out entity macro-F1", *pair({n: heldout[n].entity_macro_f1 for n in heldout})],
        [
            "held-out, served: right intent (fallback = wrong)",
            *pair({n: served_accuracy(parsed[n]) for n in parsed}),
        ],
        ["held-out, served: fallback share", *pair({n: fallback_share(parsed[n]) for n in parsed})],
        ["held-out, served: ids and codes exactly right", *pair({n: right[n][0] for n in right})],
        [
            "held-out, served: messages given a spurious entity",
            *pair({n: right[n][1] for n in right}, "{:.0f}"),
        ],
        [
            f"issued codes, served: right intent and exact code (n={ISSUED_PER_KIND})",
            *pair({n: fully_right(served[n].issued["otp_code"]) for n in served}),
        ],
        [
            f"issued order ids, served: right intent and exact id (n={ISSUED_PER_KIND})",
            *pair({n: fully_right(served[n].issued["order_id"]) for n in served}),
        ],
        [
            "NLU only: POST /model/parse p50 (ms)",
            *pair({n: percentile_ms([p.seconds for p in parsed[n]], 50) for n in parsed}, "{:.1f}"),
        ],
    ]
    return markdown_table(["", "ours", "default"], rows)


def paired_table(ours: Sequence[Parsed], default: Sequence[Parsed]) -> str:
    """Held-out message by message: a difference in accuracy is only worth as much as the
    messages one configuration gets right and the other wrong (exact two-sided McNemar test)."""
    counts = Counter(
        (top_intent(o) == o.example.intent, top_intent(d) == d.example.intent)
        for o, d in zip(ours, default, strict=True)
    )
    only_ours, only_default = counts[(True, False)], counts[(False, True)]
    discordant = only_ours + only_default
    tail = sum(math.comb(discordant, k) for k in range(min(only_ours, only_default) + 1))
    p_value = min(1.0, 2 * tail / 2**discordant) if discordant else 1.0
    rows = [
        ["right with both", counts[(True, True)]],
        ["right only with ours", only_ours],
        ["right only with the default", only_default],
        ["wrong with both", counts[(False, False)]],
        ["McNemar exact p (chance alone gives a split this uneven)", f"{p_value:.3f}"],
    ]
    return markdown_table(["held-out messages", "count"], rows)


def confusion_table(parsed: Sequence[Parsed]) -> str:
    """Per intent meant: how many held-out messages, how many came out on top right, and what
    the others were read as."""
    rows: list[list[object]] = []
    for intent, read in sorted(confusion(parsed).items()):
        total = sum(read.values())
        wrong = ", ".join(f"{name} {count}" for name, count in read.most_common() if name != intent)
        rows.append([intent, total, read[intent], f"{read[intent] / total:.3f}", wrong or "-"])
    return markdown_table(["intent meant", "messages", "right", "recall", "read as instead"], rows)


def order_safety_table(served: dict[str, Served]) -> str:
    """The misreadings that change or block an order, and the order-changing messages that got
    a question first (ours sets aside unsure ones, see bot/shop/understanding.py)."""
    rows = []
    for label, count in (
        ("read as the opposite (top intent)", lambda p: len(opposites(p))),
        ("acted on as the opposite (as served)", lambda p: len(opposites(p, served=True))),
        ("order-changing messages asked about first", lambda p: len(asked_first(p))),
    ):
        rows.append([label, *(count(served[name].parsed) for name in NAMES)])
    examples = "; ".join(
        f"{p.example.text!r} ({p.example.intent} -> {top_intent(p)})"
        for p in opposites(served["ours"].parsed)
    )
    rows.append(["ours, those messages", examples or "none", ""])
    return markdown_table(["held-out messages", "ours", "default"], rows)


def sweep_table(served: dict[str, Served]) -> str:
    """Each configuration's own threshold is marked with its name."""
    fallbacks = {c.name: c.fallback for c in CANDIDATES}
    rows = []
    for threshold in SWEEP_THRESHOLDS:
        configured = [n for n in NAMES if fallbacks[n][0] == threshold]
        row: list[object] = [f"{threshold:.1f} {' '.join(f'({n})' for n in configured)}".strip()]
        for name in NAMES:
            right, wrong = answers_at(served[name].parsed, threshold, fallbacks[name][1])
            row += [f"{right:.3f}", f"{wrong:.3f}"]
        rows.append(row)
    headers = ["FallbackClassifier threshold", "ours: right", "ours: wrong intent"]
    return markdown_table([*headers, "default: right", "default: wrong intent"], rows)


def goals_table(
    served: dict[str, Served],
    cv: dict[str, NluScore],
    heldout: dict[str, NluScore],
    concurrency: Sequence[int],
) -> str:
    ours, default = served["ours"], served["default"]
    speedups = {
        (channel, level): ours.run(channel, level).turns_per_second
        / default.run(channel, level).turns_per_second
        for channel in CHANNELS
        for level in concurrency
    }
    peak = {
        name: max(served[name].run("rest", level).turns_per_second for level in concurrency)
        for name in served
    }
    lowest = min(speedups, key=speedups.get)
    level = GOAL_P95_CONCURRENCY if GOAL_P95_CONCURRENCY in concurrency else max(concurrency)
    p95 = ours.run("whatsapp", level).percentile_ms(95)
    rows = [
        [
            f"peak REST turns/s >= {GOAL_SPEEDUP:.0f}x default",
            f"{peak['ours']:.1f} vs {peak['default']:.1f} ({peak['ours'] / peak['default']:.2f}x)",
            verdict(peak["ours"] >= GOAL_SPEEDUP * peak["default"]),
        ],
        [
            f"turns/s >= {GOAL_SPEEDUP:.0f}x at every point",
            f"lowest {speedups[lowest]:.2f}x ({lowest[0]}, {lowest[1]} concurrent)",
            verdict(speedups[lowest] >= GOAL_SPEEDUP),
        ],
        [
            "CV intent macro-F1 >= default",
            f"{cv['ours'].intent_macro_f1:.3f} vs {cv['default'].intent_macro_f1:.3f}",
            verdict(cv["ours"].intent_macro_f1 >= cv["default"].intent_macro_f1),
        ],
        [
            "held-out accuracy >= default",
            f"{heldout['ours'].intent_accuracy:.3f} vs {heldout['default'].intent_accuracy:.3f}",
            verdict(heldout["ours"].intent_accuracy >= heldout["default"].intent_accuracy),
        ],
        [
            f"held-out intent accuracy >= {GOAL_HELDOUT_ACCURACY}",
            f"{heldout['ours'].intent_accuracy:.3f}",
            verdict(heldout["ours"].intent_accuracy >= GOAL_HELDOUT_ACCURACY),
        ],
        [
            "no held-out order-changing message read as its opposite",
            f"{len(opposites(ours.parsed))} vs {len(opposites(default.parsed))}",
            verdict(not opposites(ours.parsed)),
        ],
        [
            "ids and codes exactly right in every held-out message with one",
            f"{entities_right(ours.parsed)[0]:.3f} vs {entities_right(default.parsed)[0]:.3f}",
            verdict(entities_right(ours.parsed)[0] == 1.0),
        ],
        [
            f"WhatsApp reply p95 < {GOAL_P95_MS:.0f} ms at {level} concurrent",
            f"{p95:.0f} ms",
            verdict(p95 < GOAL_P95_MS),
        ],
        [
            "start-up no slower",
            f"{ours.startup_seconds:.1f} s vs {default.startup_seconds:.1f} s",
            verdict(ours.startup_seconds <= default.startup_seconds),
        ],
        [
            "Rasa server memory no larger (after the load)",
            f"{ours.rss_after[0]:.0f} vs {default.rss_after[0]:.0f} MiB",
            verdict(ours.rss_after[0] <= default.rss_after[0]),
        ],
    ]
    return markdown_table(["goal", "measured (ours vs default)", "met"], rows)


def draw_chart(served: dict[str, Served], concurrency: Sequence[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (rate, tail) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"ours": "tab:green", "default": "tab:gray"}
    styles = {"rest": "-", "whatsapp": "--"}
    for name in NAMES:
        for channel in CHANNELS:
            runs = [served[name].run(channel, level) for level in concurrency]
            label = f"{name}, {channel}"
            style = {"color": colors[name], "linestyle": styles[channel], "marker": "o"}
            rate.plot(concurrency, [r.turns_per_second for r in runs], label=label, **style)
            tail.plot(concurrency, [r.percentile_ms(95) for r in runs], label=label, **style)
    tail.axhline(GOAL_P95_MS, color="tab:red", linewidth=0.8, label="p95 goal (1 s)")
    for axis, title, unit in ((rate, "Throughput", "turns/s"), (tail, "Reply latency p95", "ms")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(list(concurrency), [str(c) for c in concurrency])
        axis.set_xlabel("concurrent conversations")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(alpha=0.3)
    rate.set_ylim(bottom=0)
    tail.set_yscale("log")
    rate.legend(fontsize=8)
    tail.legend(fontsize=8)
    figure.suptitle("TrustGuard config vs Rasa 3.6 default, same machine, same run")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
