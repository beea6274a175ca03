"""Memory and CPU time of a server and the processes it started, read from /proc (Linux).

The benchmarks report what a process really holds (VmRSS) and the CPU it really spent, so a
difference between two configurations can be told apart from the load generator's own cost.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

MIB = 1024.0
_TICKS = os.sysconf("SC_CLK_TCK")
# Fields of /proc/<pid>/stat after the ")" closing the command name.
_PPID, _UTIME, _STIME = 1, 11, 12


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int(_stat_fields(int(entry.name))[_PPID])
                children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


def rss_mib(pid: int) -> float:
    """Resident memory (VmRSS) of ``pid`` and its descendants, in MiB."""
    total_kib = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{member}/status").read_text()
            found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
            total_kib += int(found.group(1)) if found else 0
    return total_kib / MIB


def cpu_seconds(pid: int) -> float:
    """User and system CPU time spent so far by ``pid`` (all its threads) and its descendants."""
    ticks = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat_fields(member)
            ticks += int(fields[_UTIME]) + int(fields[_STIME])
    return ticks / _TICKS


def machine_busy_seconds() -> float:
    """CPU time all processors have spent busy since boot (everything but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _TICKS
