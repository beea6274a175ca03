"""Wake-ups between processes through PostgreSQL's LISTEN/NOTIFY.

A notification is sent when the transaction that announces it commits, so a listener that wakes
finds the rows it was told about. On SQLite (one process) there is nobody else to tell: the
caller wakes its own workers, and polling covers the rest.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.platform.db import engine_for

logger = logging.getLogger(__name__)

# Seconds between checks for a stop, and before reconnecting after the database went away.
POLL_SECONDS = 1.0
RECONNECT_SECONDS = 2.0


def announce(session: Session, topic: str) -> None:
    """Tell every listener of ``topic`` once this transaction commits (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_notify(topic, "")))


def listens(url: str) -> bool:
    """Whether a database at ``url`` can wake other processes."""
    return sa.engine.make_url(url).get_backend_name() == "postgresql"


class Listener:
    """A thread that calls ``wake()`` on each notification of ``topic``, reconnecting after the
    database went away (and waking then too: notifications sent meanwhile were lost)."""

    def __init__(self, url: str, topic: str, wake: Callable[[], None]) -> None:
        self._url = url
        self._topic = topic
        self._wake = wake
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{topic}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=POLL_SECONDS * 3)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._listen()
            except Exception as error:  # the database went away: try again, never die
                logger.warning(
                    "database notifications interrupted; reconnecting",
                    extra={"topic": self._topic, "error": type(error).__name__},
                )
                self._stopped.wait(RECONNECT_SECONDS)
                self._wake()

    def _listen(self) -> None:
        connection = engine_for(self._url).raw_connection()
        # Out of the pool for good: LISTEN belongs to this connection for as long as it lives.
        connection.detach()
        raw = connection.dbapi_connection
        try:
            raw.autocommit = True
            with raw.cursor() as cursor:
                cursor.execute(f'LISTEN "{self._topic}"')
            while not self._stopped.is_set():
                if select.select([raw], [], [], POLL_SECONDS)[0]:
                    raw.poll()
                    if raw.notifies:
                        raw.notifies.clear()
                        self._wake()
        finally:
            raw.close()
