"""``python -m bench.pipeline``: is our configuration faster than Rasa's default without
understanding buyers worse?

Both configurations, config.yml ("ours") and bench/default_config.yml (Rasa 3.6's default,
"default"), are trained on the same data/ and domain.yml and measured side by side in one run:

1. Cost: training time (each from a cold cache), Rasa server start-up until its model is loaded,
   the first reply, and the resident memory of the Rasa server and the action server after
   start-up and after the load below.
2. Throughput and latency: whole buyer conversations (bench/conversations.py) at 1, 4 and 16
   concurrent buyers, through the REST channel and through the WhatsApp channel (signed webhooks
   in, replies read at a Graph API double).
3. Understanding: 5-fold cross-validated intent and entity F1 on data/ (the same folds for both
   configurations) and scores on bench/heldout.yml, buyer messages never trained on, both as
   ``rasa test nlu`` scores them and as the running server answers them (fallback included).

Everything runs on loopback from fresh temporary files and is stopped when the run ends, also
when it is interrupted; models/, var/ and .env are never read or written. Prints Markdown tables
and writes the chart.

    python -m bench.pipeline [--turns 200] [--concurrency 1 4 16] [--folds 5] [--cv-runs 1]
                             [--memory-turns 1000] [--chart docs/pipeline.png] [--keep]

Here is the run and its command line; the configurations and their servers are in
bench.pipeline_stacks, the load in bench.pipeline_load (over bench.conversations), the messages
and scores in bench.pipeline_heldout and bench.pipeline_scoring, the tables in
bench.pipeline_report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.conversations import JOURNEY
from bench.pipeline_heldout import HELDOUT, heldout_problems, load_examples
from bench.pipeline_load import serve_all
from bench.pipeline_report import (
    commands,
    confusion_table,
    cost_table,
    draw_chart,
    goals_table,
    load_table,
    order_safety_table,
    paired_table,
    ratio_table,
    sweep_table,
    understanding_table,
)
from bench.pipeline_scoring import CV_SEED, cross_validate, mean_score, test_heldout
from bench.pipeline_stacks import CANDIDATES, train
from bench.reporting import print_section, progress
from bench.runs import in_temporary_workdir, positive, run_benchmark
from bot.platform.settings import PROJECT_ROOT


def run(args: argparse.Namespace, workdir: Path) -> None:
    examples = load_examples(HELDOUT)
    problems = heldout_problems(examples)
    if problems:
        raise RuntimeError("bench/heldout.yml is not held out:\n" + "\n".join(problems))
    print_section("Commands (TMP is the run's temporary directory)", commands(args))
    print_section(
        "Held-out set",
        f"{len(examples)} messages in `bench/heldout.yml`, none of them "
        "in `data/` or `tests/stories/` (checked before the run).",
    )

    trained = {}
    for candidate in CANDIDATES:
        progress(f"training {candidate.name}")
        trained[candidate.name] = train(candidate, workdir)

    served, unclaimed = serve_all(trained, examples, args, workdir)
    print_section("Cost", cost_table(trained, served))
    title = f"Conversations ({args.turns} turns per point, {len(JOURNEY)}-turn journeys)"
    print_section(title, load_table(served, args.concurrency))
    print_section("Ours against the default", ratio_table(served, args.concurrency))
    print_section("WhatsApp replies no buyer was waiting for (late or duplicate)", f"{unclaimed}")

    heldout, cv = {}, {}
    for candidate in CANDIDATES:
        progress(f"testing {candidate.name} on the held-out set")
        heldout[candidate.name] = test_heldout(candidate, trained[candidate.name], workdir)
    for candidate in CANDIDATES:
        runs = []
        for offset in range(args.cv_runs):
            progress(f"cross-validating {candidate.name}, run {offset + 1} of {args.cv_runs}")
            runs.append(cross_validate(candidate, args.folds, CV_SEED + offset, workdir))
        cv[candidate.name] = mean_score(runs)
    title = (
        f"Understanding ({args.folds}-fold CV x {args.cv_runs}, held-out {len(examples)} messages)"
    )
    print_section(title, understanding_table(cv, heldout, served))
    paired = paired_table(served["ours"].parsed, served["default"].parsed)
    print_section("Held-out, message by message (top intent)", paired)
    title = "Held-out confusion, ours, by intent (top intent, as rasa test nlu scores)"
    print_section(title, confusion_table(served["ours"].parsed))
    print_section("Held-out messages that change orders", order_safety_table(served))
    title = "Held-out as served, by fallback threshold (each config's own ambiguity threshold)"
    print_section(title, sweep_table(served))
    print_section("Goals", goals_table(served, cv, heldout, args.concurrency))
    draw_chart(served, args.concurrency, args.chart)
    print_section(
        "Chart", f"![Throughput and p95 latency]({args.chart.name}) written to `{args.chart}`"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--turns", type=positive, default=200, help="per point")
    parser.add_argument("--concurrency", type=positive, nargs="+", default=[1, 4, 16])
    parser.add_argument("--folds", type=positive, default=5)
    parser.add_argument("--cv-runs", type=positive, default=1, help="seeds, the same per config")
    parser.add_argument("--memory-turns", type=positive, default=1000, help="before the RSS read")
    parser.add_argument("--chart", type=Path, default=PROJECT_ROOT / "docs" / "pipeline.png")
    parser.add_argument("--keep", action="store_true", help="keep models, logs and reports")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    body = in_temporary_workdir("trustguard-pipeline-", "the run's models, logs and reports", run)
    packages = ("rasa", "tensorflow")
    return run_benchmark("Pipeline benchmark", "bench.pipeline", parse_args, body, argv, packages)


if __name__ == "__main__":
    raise SystemExit(main())
