"""What this project writes (``.env``, the SQLite databases, the token file, logs) holds secrets
or buyers' data, so every process creates its files readable by their owner only: set once at
start-up, inherited by the servers the launcher starts, never tightened afterwards."""

from __future__ import annotations

import os

PRIVATE_UMASK = 0o077


def keep_new_files_private() -> None:
    os.umask(PRIVATE_UMASK)
