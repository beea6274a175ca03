"""``env init``, ``db upgrade`` and ``db prune``: the local configuration, the app database's
schema, and what it keeps."""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
from typing import Any

from bot.cli.common import command, subgroup
from bot.meta import inbox
from bot.platform import db
from bot.platform.settings import PROJECT_ROOT, get_settings
from bot.shop import shops

ENV_HEADER = """\
# Written by `make run`. The secrets here are random and local to this machine. For a real Meta
# app, replace META_APP_SECRET with the app's secret and META_VERIFY_TOKEN with the token you
# enter in its webhook settings (see README, "Connecting a shop").
"""


def _generated_settings() -> dict[str, str]:
    return {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "OTP_SECRET": secrets.token_urlsafe(48),
        "RASA_API_TOKEN": secrets.token_urlsafe(32),
        "ACTION_SERVER_TOKEN": secrets.token_urlsafe(32),
        "DEFAULT_SHOP": shops.DEMO_SHOP_ID,
        "META_APP_SECRET": secrets.token_hex(16),
        "META_VERIFY_TOKEN": secrets.token_urlsafe(16),
    }


def cmd_env_init(args: argparse.Namespace) -> None:
    """Write what .env lacks, with fresh random secrets; never change a value already there."""
    path = PROJECT_ROOT / ".env"
    existing = path.read_text() if path.exists() else ENV_HEADER
    present = {
        line.split("=", 1)[0].strip()
        for line in existing.splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    missing = {k: v for k, v in _generated_settings().items() if k not in present}
    if not missing:
        print(f"{path} is complete; left as it is")
        return
    added = "".join(f"{key}={value}\n" for key, value in missing.items())
    path.write_text(existing.rstrip("\n") + "\n" + added)
    path.chmod(0o600)
    print(f"{path}: added {', '.join(missing)}")


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    db.migrate()
    print("database is up to date")


def cmd_db_prune(args: argparse.Namespace) -> None:
    """What the Rasa server also does every hour, once, now."""
    days = get_settings().inbox_retention_days
    messages, sends = inbox.prune(dt.timedelta(days=days))
    print(
        f"deleted {messages} processed inbox messages and {sends} delivery records "
        f"older than {days} days (INBOX_RETENTION_DAYS)"
    )


def register(groups: Any) -> None:
    env = subgroup(groups, "env", "local configuration")
    command(env, "init", cmd_env_init, "write .env with fresh random secrets if it is missing")
    database = subgroup(groups, "db", "the app database")
    command(database, "upgrade", cmd_db_upgrade, "apply Alembic migrations")
    command(
        database,
        "prune",
        cmd_db_prune,
        "delete processed inbox messages and delivery records older than INBOX_RETENTION_DAYS",
    )
