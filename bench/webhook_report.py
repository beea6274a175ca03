"""The tables of the webhook benchmark: acknowledgement latency against the baseline and
against Meta's guidance, the event-loop probe, and how much CPU other work on the machine took
from the run."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.reporting import markdown_table, percentile_ms, seconds, verdict
from bench.webhook_load import Run

GOAL_P99_MS = 100.0
META_MEDIAN_MS = 250.0
META_SLOW_MS = 1000.0
META_SLOW_SHARE = 0.01


def latency_table(runs: Sequence[Run]) -> str:
    headers = ["target", "requests", "non-200", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    rows = [
        [
            run.target,
            len(run.outcomes),
            len(run.outcomes) - run.accepted,
            *(f"{run.percentile_ms(p):.1f}" for p in (50, 95, 99, 100)),
            f"{run.accepted_per_second:.0f}",
        ]
        for run in runs
    ]
    return markdown_table([*headers, "accepted/s"], rows)


def ratio_table(assistant: Run, baseline: Run) -> str:
    """Three significant digits, so a ratio far below 1 does not round to zero."""
    ratios = [
        ("p50", assistant.percentile_ms(50) / baseline.percentile_ms(50)),
        ("p99", assistant.percentile_ms(99) / baseline.percentile_ms(99)),
        ("accepted/s", assistant.accepted_per_second / baseline.accepted_per_second),
    ]
    rows = [[metric, f"{ratio:.3g}x"] for metric, ratio in ratios]
    return markdown_table(["metric", "assistant / baseline"], rows)


def goal_table(assistant: Run) -> str:
    p50, p99 = assistant.percentile_ms(50), assistant.percentile_ms(99)
    slow = assistant.share_slower_than(META_SLOW_MS)
    median_met = p50 <= META_MEDIAN_MS
    rows = [
        [f"p99 < {GOAL_P99_MS:.0f} ms (ours)", f"{p99:.1f} ms", verdict(p99 < GOAL_P99_MS)],
        [f"median <= {META_MEDIAN_MS:.0f} ms (Meta)", f"{p50:.1f} ms", verdict(median_met)],
        ["< 1 % above 1 s (Meta)", f"{slow:.2%}", verdict(slow < META_SLOW_SHARE)],
    ]
    return markdown_table(["goal", "assistant", "met"], rows)


def probe_table(idle: Sequence[float], busy: Sequence[float]) -> str:
    rows = [
        [label, len(latencies), *(f"{percentile_ms(latencies, p):.1f}" for p in (50, 99, 100))]
        for label, latencies in (
            ("assistant idle", idle),
            ("assistant acknowledging (as above)", busy),
        )
    ]
    return markdown_table(["while", "requests", "p50 ms", "p99 ms", "max ms"], rows)


def format_states(states: dict[str, int]) -> str:
    return ", ".join(f"{state}: {count}" for state, count in sorted(states.items())) or "none"


def flag(count: int) -> str:
    return str(count) if count == 0 else f"**{count}**"


@dataclass(frozen=True)
class CpuClock:
    """CPU seconds of the whole machine, and of this process with its reaped children.

    Everything the benchmark starts is reaped before the run ends (the launcher reaps its two
    servers), so between two readings, machine minus own is what other work took from the run.
    """

    processes: float
    interrupts_and_steal: float
    own: float

    @classmethod
    def read(cls) -> CpuClock:
        fields = [int(field) for field in Path("/proc/stat").read_text().split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        ticks = os.sysconf("SC_CLK_TCK")
        times = os.times()
        return cls(
            processes=(user + nice + system) / ticks,
            interrupts_and_steal=(irq + softirq + steal) / ticks,
            own=times.user + times.system + times.children_user + times.children_system,
        )


def other_work_table(start: CpuClock, end: CpuClock, wall_seconds: float) -> str:
    """Other jobs on the machine take cores from the servers: this says how much they took."""
    capacity = wall_seconds * len(os.sched_getaffinity(0))
    others = max(0.0, (end.processes - start.processes) - (end.own - start.own))
    interrupts = end.interrupts_and_steal - start.interrupts_and_steal
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rows = [
        ["wall time of the run", seconds(wall_seconds)],
        ["CPU used by this run's processes", seconds(end.own - start.own)],
        [
            "CPU used by other processes",
            f"{seconds(others)} ({others / capacity:.1%} of the cores)",
        ],
        ["CPU in interrupts and hypervisor steal", seconds(interrupts)],
        ["load average (1, 5, 15 min) at the end", load],
    ]
    return markdown_table(["", ""], rows)
