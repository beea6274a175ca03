"""A database of the test's own on the machine's PostgreSQL, dropped afterwards."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from bot.platform import db

# The machine's server (DEVELOPERS.md): trust authentication for the postgres user on loopback.
SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
START_HINT = (
    "PostgreSQL is not reachable at 127.0.0.1:5432; start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
)


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """The URL of a new, empty database, dropped (connections and all) when the block ends."""
    server = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    name = f"trustguard_test_{secrets.token_hex(6)}"
    try:
        with server.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError:
        server.dispose()
        pytest.skip(START_HINT)
    url = sa.engine.make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        db.engine_for(url).dispose()
        with server.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()
