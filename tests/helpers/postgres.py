"""Databases of the tests' own on the machine's PostgreSQL, dropped afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from bot.platform import db

# The machine's server (trust authentication for the postgres user on loopback, DEVELOPERS.md).
POSTGRES_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


@contextlib.contextmanager
def throwaway_database(template: str | None = None) -> Iterator[str]:
    """The URL of a new database (empty, or a copy of ``template``), dropped with its
    connections when the block ends; the test is skipped, saying why, when no PostgreSQL
    answers at ``TEST_POSTGRES_URL``."""
    name = f"trustguard_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        _admin(f'CREATE DATABASE "{name}"{copy}')
    except OperationalError as error:
        pytest.skip(
            f"no PostgreSQL at {POSTGRES_SERVER} (TEST_POSTGRES_URL): {error.orig}; start it "
            "with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        )
    url = f"{POSTGRES_SERVER}/{name}"
    try:
        yield url
    finally:
        db.engine_for(url).dispose()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(statement: str) -> None:
    server = sa.create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        server.dispose()
