"""How every benchmark run begins and ends: its heading and machine, its temporary directory
(removed unless ``--keep``), and SIGTERM or Ctrl-C unwinding so that whatever it started is
stopped."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench.reporting import machine, markdown_table, print_section


def positive(raw: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def stop_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so every server started here is stopped."""
    raise KeyboardInterrupt


def run_benchmark(
    title: str,
    module: str,
    parse_args: Callable[[list[str]], argparse.Namespace],
    body: Callable[[argparse.Namespace], int],
    argv: list[str] | None = None,
    packages: Sequence[str] = (),
) -> int:
    """A benchmark's ``main``: parses ``argv`` (the command line's by default), prints the
    heading, the command line and the machine (with the versions of ``packages``), then returns
    ``body``'s exit status; an interruption exits with 130 once everything ``body`` started is
    stopped."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    print(f"## {title}\n\n`{shlex.join(['python', '-m', module, *argv])}`")
    print_section("Machine", markdown_table(["", ""], machine(*packages)))
    try:
        return body(args)
    except KeyboardInterrupt:
        print("\ninterrupted; everything started here was stopped", file=sys.stderr)
        return 130


def in_temporary_workdir(
    prefix: str, kept: str, run: Callable[[argparse.Namespace, Path], None]
) -> Callable[[argparse.Namespace], int]:
    """A ``body`` for ``run_benchmark``: ``run`` in a ``temporary_workdir`` (kept with
    ``--keep``), exit status 0."""

    def body(args: argparse.Namespace) -> int:
        with temporary_workdir(prefix, args.keep, kept) as workdir:
            run(args, workdir)
        return 0

    return body


@contextlib.contextmanager
def temporary_workdir(prefix: str, keep: bool, kept: str) -> Iterator[Path]:
    """A fresh directory for the run's files, removed at the end unless ``keep``; then it says
    where ``kept`` (what it holds) was kept."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        if keep:
            print(f"\nKept {kept} in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
