"""``nlu check``: the shops' phrasings are refused before training if they repeat or
contradict other training examples (``make train`` runs it first)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import CliError, command, subgroup
from bot.platform.settings import PROJECT_ROOT
from bot.platform.training_data import phrasing_problems


def cmd_nlu_check(args: argparse.Namespace) -> None:
    data: Path = args.data
    problems = phrasing_problems(data, data / "shops")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        raise CliError(
            f"{len(problems)} shop phrasing(s) to fix in data/shops/ (each listed above); "
            "nothing was trained"
        )
    print("data/shops/: no repeated or contradicting examples")


def register(groups: Any) -> None:
    nlu = subgroup(groups, "nlu", "training data")
    check = command(nlu, "check", cmd_nlu_check, "refuse repeated or contradicting shop phrasings")
    check.add_argument("--data", type=Path, default=PROJECT_ROOT / "data", help=argparse.SUPPRESS)
