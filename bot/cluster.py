"""``python -m bot.cluster`` (``make cluster``): the production layout on one machine.

One process per role, on loopback, sharing PostgreSQL (the app database and the conversations)
and Redis (the conversation locks): the action server, the shops' API, ``RASA_SERVERS`` turn
servers (``rasa run`` with ``TRUSTGUARD_ROLE=turns``, answering the inbox) and the acknowledging
endpoint on ``RASA_PORT`` (``connectors.ingest``, the same webhook paths as ``make run``). The
database is created and migrated once before any server starts; the processes are listed in
``var/cluster.json``; Ctrl-C stops them, the acknowledging endpoint first and the action server
last, so that the turns in progress finish.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import redis
import sqlalchemy as sa

from bot.launcher import (
    MODELS,
    _interrupt,
    _stop_with_launcher,
    child_environment,
    rasa_server_command,
    stop,
)
from bot.platform import db
from bot.platform.files import keep_new_files_private
from bot.platform.logs import install_redaction
from bot.platform.readiness import NotReady, wait_until_ready
from bot.platform.secrets import check_jwt_key
from bot.platform.settings import PROJECT_ROOT, ConfigurationError, get_settings, load_dotenv

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/trustguard"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_TURN_SERVERS = 2
STATE_FILE = PROJECT_ROOT / "var" / "cluster.json"
# Rasa servers load TensorFlow and the model: slow on a small machine when several start at once.
TURN_SERVER_START_SECONDS = 600
BACKGROUND_ROLES = ("turns", "actions")
BACKGROUND_NICENESS = 10
HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
}


class Unreachable(RuntimeError):
    """A service the cluster needs does not answer; the message names it and how to start it."""


@dataclass(frozen=True)
class Member:
    role: str  # "ingest" | "turns" | "actions" | "api"
    port: int
    pid: int


def cluster_environment(environ: dict[str, str]) -> dict[str, str]:
    """The children's environment: PostgreSQL and Redis on their standard local ports unless
    set, Redis's URL also in the parts Rasa's lock store takes."""
    env = dict(environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("TRACKER_STORE_URL", env["DATABASE_URL"])
    env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    # Rasa's conversation lock in Redis outlives a server that died holding it by its lifetime
    # (60 s by default): the server taking its messages over would wait that long. The inbox
    # already runs one turn at a time per conversation, so the lock lasts as long as a lease.
    env.setdefault("TICKET_LOCK_LIFETIME", env.get("INBOX_LEASE_SECONDS") or "30")
    for name in ("DATABASE_URL", "TRACKER_STORE_URL"):
        if sa.engine.make_url(env[name]).get_backend_name() != "postgresql":
            raise ConfigurationError(
                f"{name} must be a PostgreSQL URL for several servers (SQLite serves one "
                "process: make run), such as postgresql://postgres@127.0.0.1:5432/trustguard."
            )
    lock = redis.connection.parse_url(env["REDIS_URL"])
    env.update(
        REDIS_HOST=str(lock.get("host", "127.0.0.1")),
        REDIS_PORT=str(lock.get("port", 6379)),
        REDIS_DB=str(lock.get("db", 0)),
        REDIS_PASSWORD=str(lock.get("password") or ""),
    )
    return child_environment(env)


def check_services(env: dict[str, str], *, create: bool = True) -> None:
    """PostgreSQL answers (each database is created when missing, if ``create``) and so does
    Redis."""
    for name in dict.fromkeys((env["DATABASE_URL"], env["TRACKER_STORE_URL"])):
        ensure_database(name, create=create)
    try:
        redis.Redis.from_url(env["REDIS_URL"], socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        lock = redis.connection.parse_url(env["REDIS_URL"])
        where = f"{lock.get('host')}:{lock.get('port', 6379)}"
        raise Unreachable(
            f"Redis does not answer at REDIS_URL ({where}): {str(error).rstrip('.')}. "
            f"Start it with: {HOW_TO_START['Redis']}"
        ) from None


def ensure_database(url: str, *, create: bool = True) -> None:
    target = sa.engine.make_url(url)
    server = target.set(database="postgres")
    try:
        engine = sa.create_engine(server, isolation_level="AUTOCOMMIT", future=True)
        with engine.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            ).scalar()
            if create and not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
        engine.dispose()
    except sa.exc.OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        where = f"{target.host}:{target.port or 5432}/{target.database}"
        raise Unreachable(
            f"PostgreSQL does not answer at {where}: {reason}. "
            f"Start it with: {HOW_TO_START['PostgreSQL']}"
        ) from None


def turn_server_ports(env: dict[str, str], count: int) -> list[int]:
    first = int(env.get("TURN_SERVERS_FIRST_PORT") or int(env["RASA_PORT"]) + 1)
    return [first + n for n in range(count)]


def write_state(members: list[Member], path: Path = STATE_FILE) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps([asdict(member) for member in members], indent=2) + "\n")


def _prepare_child(role: str) -> None:
    """Run in each child before it starts. On one machine, the turns (and the actions they
    call) yield the CPU to the acknowledging endpoint and the API, whose answers are awaited:
    a webhook is never acknowledged late because a turn was running."""
    if role in BACKGROUND_ROLES:
        os.nice(BACKGROUND_NICENESS)
    if role == "actions":
        _stop_with_launcher()


def watch(members: list[Member], processes: list[subprocess.Popen]) -> int:
    """Run until a process the cluster cannot do without exits: a turn server that dies is
    reported, and the others take over its messages once their leases run out."""
    reported: set[int] = set()
    while True:
        time.sleep(0.5)
        gone = [m for m, p in zip(members, processes, strict=True) if p.poll() is not None]
        for member in gone:
            if member.role == "turns" and member.pid not in reported:
                reported.add(member.pid)
                print(
                    f"the turn server on port {member.port} (pid {member.pid}) exited; the "
                    "others take over its messages",
                    file=sys.stderr,
                    flush=True,
                )
        turn_servers = [m for m in members if m.role == "turns"]
        vital = [m for m in gone if m.role != "turns"]
        if vital or len(reported) == len(turn_servers):
            stopped = ", ".join(f"{m.role} (pid {m.pid})" for m in vital or gone)
            print(f"stopping: {stopped} exited", file=sys.stderr, flush=True)
            return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.cluster")
    parser.add_argument(
        "--check",
        action="store_true",
        help="only say whether PostgreSQL and Redis answer (make test checks this first)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    keep_new_files_private()
    install_redaction()
    load_dotenv()
    try:
        env = cluster_environment(dict(os.environ))
        count = int(env.get("RASA_SERVERS") or DEFAULT_TURN_SERVERS)
        if count < 1:
            raise ConfigurationError(f"RASA_SERVERS must be at least 1, not {count}.")
        if args.check:
            check_services(env, create=False)
            print("PostgreSQL and Redis answer.")
            return 0
        os.environ.update(env)
        get_settings.cache_clear()
        get_settings()
        check_jwt_key()
        check_services(env)
    except (ConfigurationError, Unreachable, ValueError) as error:
        doing = "the tests need PostgreSQL and Redis" if args.check else "cannot start"
        print(f"{doing}: {error}", file=sys.stderr)
        return 1
    db.migrate()
    subprocess.run([sys.executable, "-m", "bot", "shop", "demo"], env=env, check=True)

    processes: list[subprocess.Popen] = []
    members: list[Member] = []

    def start(role: str, port: int, command: list[str], **extra: str) -> subprocess.Popen:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**env, **extra},
            start_new_session=role == "actions",
            preexec_fn=functools.partial(_prepare_child, role),
        )
        processes.append(process)
        members.append(Member(role, port, process.pid))
        return process

    try:
        actions_port = int(env["ACTIONS_PORT"])
        actions = start("actions", actions_port, [sys.executable, "-m", "actions"])
        wait_until_ready(
            f"http://127.0.0.1:{actions_port}/health", actions, 60, what="the action server"
        )
        api_port = int(env["API_PORT"])
        api = start("api", api_port, [sys.executable, "-m", "bot.api"])
        wait_until_ready(
            f"http://127.0.0.1:{api_port}/api/v1/openapi.json", api, 60, what="the shops' API"
        )
        turn_servers = []
        for port in turn_server_ports(env, count):
            command = rasa_server_command(
                MODELS,
                {**env, "RASA_PORT": str(port)},
                endpoints="endpoints.cluster.yml",
                credentials="credentials.production.yml",
                http_api=False,
            )
            turn_servers.append((port, start("turns", port, command, TRUSTGUARD_ROLE="turns")))
        for port, server in turn_servers:
            wait_until_ready(
                f"http://127.0.0.1:{port}/",
                server,
                TURN_SERVER_START_SECONDS,
                what=f"the turn server on port {port}",
            )
        ingest_port = int(env["RASA_PORT"])
        ingest = start(
            "ingest",
            ingest_port,
            [sys.executable, "-m", "connectors.ingest", "--port", str(ingest_port)],
            TRUSTGUARD_ROLE="ingest",
        )
        wait_until_ready(
            f"http://127.0.0.1:{ingest_port}/", ingest, 60, what="the acknowledging endpoint"
        )
        write_state(members)
        print(
            "\nTrustGuard Assistant cluster is running:\n"
            + "".join(f"  {m.role:<8} port {m.port:<6} pid {m.pid}\n" for m in members)
            + f"Webhooks: http://127.0.0.1:{ingest_port}/webhooks/<whatsapp|instagram>/webhook "
            f"(put this port behind your HTTPS proxy). Listed in {STATE_FILE}. "
            "Ctrl-C stops them all.\n",
            flush=True,
        )
        return watch(members, processes)
    except KeyboardInterrupt:
        return 0
    except NotReady as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        STATE_FILE.unlink(missing_ok=True)
        # Newest first: the acknowledging endpoint, the turn servers, the API, the action server.
        stop(processes)


if __name__ == "__main__":
    raise SystemExit(main())
