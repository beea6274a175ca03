"""What every benchmark prints: Markdown tables and sections, the machine it ran on, progress
lines, the one percentile all latencies are reported with, and the errors in the assistant's
log."""

from __future__ import annotations

import importlib.metadata
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path


def percentile_ms(latencies: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile, in milliseconds, of latencies in seconds."""
    if not latencies:
        return math.nan
    rank = max(1, math.ceil(percent / 100 * len(latencies)))
    return sorted(latencies)[rank - 1] * 1000


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def print_section(title: str, body: str) -> None:
    print(f"\n### {title}\n\n{body}", flush=True)


def progress(line: str) -> None:
    """A time-stamped line on stderr, apart from the report on stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def verdict(met: bool) -> str:
    return "yes" if met else "**no**"


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def machine(*packages: str) -> list[tuple[str, str]]:
    """Processors, memory and Python of this machine, then the versions of ``packages``."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text()
    memory_kib = int(re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE).group(1))
    return [
        ("nproc", str(len(os.sched_getaffinity(0)))),
        ("CPU", model.group(1) if model else "unknown"),
        ("memory", f"{memory_kib / 1024**2:.1f} GiB"),
        ("Python", sys.version.split()[0]),
        *((package, importlib.metadata.version(package)) for package in packages),
    ]


def print_log_summary(log: Path) -> None:
    """Errors and warnings of the assistant's run, grouped with their numbers blanked out."""
    if not log.exists():
        return
    lines = log.read_text(errors="replace").splitlines()
    errors = [line for line in lines if re.search(r"\b(ERROR|CRITICAL)\b|Traceback", line)]
    warnings = [line for line in lines if re.search(r"\bWARNING\b", line)]
    common = Counter(re.sub(r"\d+", "N", line)[:200] for line in errors).most_common(5)
    rows = [["error lines", len(errors)], ["warning lines", len(warnings)]]
    rows += [[f"`{line}`", count] for line, count in common]
    print_section("Assistant log", markdown_table(["what", "count"], rows))
