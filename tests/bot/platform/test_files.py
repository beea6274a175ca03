"""Files the project creates are its owner's only, from the moment they exist."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from bot.platform.settings import PROJECT_ROOT


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_cli_creates_the_database_for_its_owner_only(tmp_path: Path) -> None:
    """Run as an operator would, from a shell whose umask lets everyone read new files."""
    database = tmp_path / "created.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        ["/bin/sh", "-c", f'umask 022 && exec "{sys.executable}" -m bot db upgrade'],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    created = [database, *tmp_path.glob("created.db-*")]
    assert created and {path.name: mode(path) for path in created} == {
        path.name: 0o600 for path in created
    }


def test_the_check_sees_a_file_others_can_read(tmp_path: Path) -> None:
    """The assertion above can fail: under umask 022 sqlite creates a world-readable file."""
    database = tmp_path / "open.db"
    subprocess.run(
        ["/bin/sh", "-c", f"umask 022 && {sys.executable} -c \"import sqlite3; "
         f"sqlite3.connect('{database}').execute('create table t (x)')\""],
        check=True,
        timeout=60,
    )  # fmt: skip
    assert mode(database) == 0o644
