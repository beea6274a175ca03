"""Engines and sessions for the app database (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.platform.settings import PROJECT_ROOT, get_settings


@functools.cache
def engine_for(url: str) -> Engine:
    """One engine (and pool) per URL and process. A failed statement's error never shows its
    parameters: they are buyers' messages, codes' HMACs and tokens."""
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            future=True,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the action server read while the CLI writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@functools.cache
def _session_factory(url: str) -> sessionmaker:
    return sessionmaker(bind=engine_for(url), future=True, expire_on_commit=False)


@contextlib.contextmanager
def session_scope() -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back when it raises."""
    session: Session = _session_factory(get_settings().database_url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def migrate(url: str | None = None) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "bot" / "platform" / "migrations"))
    config.set_main_option("sqlalchemy.url", url or get_settings().database_url)
    command.upgrade(config, "head")


def lock_for_transaction(session: Session, name: str) -> None:
    """Wait for any other transaction holding ``name`` and hold it until this one ends
    (PostgreSQL's advisory locks, for several servers). A no-op on SQLite, whose one process
    meets such a race only between its own threads, and whose unique keys then refuse the
    second writer (its webhook gets a 5xx, and Meta delivers it again)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(name))))
