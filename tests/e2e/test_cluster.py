"""``make cluster`` end to end: two turn servers and the acknowledging endpoint on PostgreSQL and
Redis (databases and a Redis database of the test's own), signed webhooks posted to the
acknowledging endpoint, replies observed at the Graph API double, what Rasa stored read from the
tracker store. The cluster starts once for the module."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
import sqlalchemy as sa

from bench.cluster_stack import RunningCluster, empty_redis_database
from bot.platform.readiness import NotReady
from bot.platform.settings import PROJECT_ROOT
from devtools.graph_double import GraphDoubleThread, recipient_of
from devtools.ports import free_port, free_ports_in_a_row
from tests.conftest import JWT_SECRET, OTP_SECRET
from tests.e2e.harness import MODEL, add_shop, cli
from tests.helpers.meta import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    signed,
    wa_text,
    whatsapp,
)
from tests.helpers.postgres import throwaway_database

pytestmark = pytest.mark.e2e
LEASE_SECONDS = 5
BUYERS = [f"23480311100{n:02d}" for n in range(6)]
MESSAGES_PER_BUYER = 4


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """An empty Redis database of the module's own, emptied again afterwards."""
    url = empty_redis_database()
    yield url
    redis.Redis.from_url(url).flushdb()


class Cluster(RunningCluster):
    def post(self, payload: dict[str, Any]) -> int:
        body, headers = signed(payload)
        return requests.post(
            f"{self.url}/webhooks/whatsapp/webhook", data=body, headers=headers, timeout=30
        ).status_code


@pytest.fixture(scope="module")
def graph_double() -> Iterator[GraphDoubleThread]:
    with GraphDoubleThread() as graph:
        yield graph


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, graph_double: GraphDoubleThread
) -> Iterator[Cluster]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    logs = tmp_path_factory.mktemp("cluster")
    ingest_port = free_ports_in_a_row(3)
    with throwaway_database() as url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "TRACKER_STORE_URL": url,
            "REDIS_URL": redis_url,
            "RASA_PORT": str(ingest_port),
            "ACTIONS_PORT": str(free_port()),
            "API_PORT": str(free_port()),
            "RASA_SERVERS": "2",
            "INBOX_LEASE_SECONDS": str(LEASE_SECONDS),
            "JWT_SECRET": JWT_SECRET,
            "OTP_SECRET": OTP_SECRET,
            "META_APP_SECRET": APP_SECRET,
            "META_VERIFY_TOKEN": VERIFY_TOKEN,
            "GRAPH_API_URL": graph_double.url,
            "INSTAGRAM_GRAPH_API_URL": graph_double.url,
            "WHATSAPP_ACCESS_TOKEN": "test-whatsapp-token",
            "RECEIPTS_DIR": str(logs / "receipts"),
            "PYTHONPATH": str(PROJECT_ROOT),
        }
        cli(env, "db", "upgrade")
        add_shop(env, "kemi", "Kemi's Closet", whatsapp_phone_id=PHONE_NUMBER_ID)
        try:
            running = Cluster(env, logs / "cluster.log")
        except NotReady as error:
            pytest.fail(str(error))
        try:
            yield running
        finally:
            running.stop()


def database(cluster: Cluster) -> sa.engine.Engine:
    return sa.create_engine(cluster.env["DATABASE_URL"], future=True)


def inbox_states(cluster: Cluster) -> list[tuple[int, str, int, bool]]:
    """(id, state, attempts, replied) of every inbox message, oldest first."""
    engine = database(cluster)
    try:
        with engine.connect() as connection:
            return [
                (row.id, row.state, row.attempts, row.replied_at is not None)
                for row in connection.execute(
                    sa.text(
                        "SELECT id, state, attempts, replied_at FROM inbox_messages ORDER BY id"
                    )
                )
            ]
    finally:
        engine.dispose()


def user_turns(cluster: Cluster) -> dict[str, list[str]]:
    """Per conversation, the message ids of the user events Rasa stored, in order."""
    engine = database(cluster)
    turns: dict[str, list[str]] = {}
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id")
            )
            for sender_id, data in rows:
                turns.setdefault(sender_id, []).append(json.loads(data)["message_id"])
    finally:
        engine.dispose()
    return turns


def wait_until_finished(cluster: Cluster, expected: int, timeout: float) -> None:
    """Background work is awaited, never timed: fail only if it never finishes."""
    deadline = time.monotonic() + timeout
    while True:
        states = inbox_states(cluster)
        if len(states) == expected and all(
            state != "received" and state != "processing" for _, state, _, _ in states
        ):
            return
        assert time.monotonic() < deadline, f"unfinished: {states}"
        time.sleep(0.5)


def burst(round_: int) -> list[tuple[str, dict[str, Any]]]:
    """Every buyer's messages of one round, as (message id, webhook), buyers interleaved."""
    webhooks = []
    for n in range(MESSAGES_PER_BUYER):
        for buyer in BUYERS:
            message = wa_text(f"hello {round_}.{n}", sender=buyer)
            message["id"] = f"wamid.cluster-{round_}-{n}-{buyer}"
            webhooks.append((message["id"], whatsapp([message])))
    return webhooks


def post_with_redeliveries(cluster: Cluster, webhooks: list[tuple[str, dict[str, Any]]]) -> None:
    """Each webhook posted, and Meta's redelivery of it racing the original."""
    statuses: list[int] = []

    def post(payload: dict[str, Any]) -> None:
        statuses.append(cluster.post(payload))

    for _, payload in webhooks:
        racers = [threading.Thread(target=post, args=(payload,)) for _ in range(2)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
    assert set(statuses) == {200}


def test_a_burst_is_answered_once_per_message_in_order_even_when_a_turn_server_dies(
    cluster: Cluster, graph_double: GraphDoubleThread
) -> None:
    first, second = burst(1), burst(2)
    post_with_redeliveries(cluster, first)
    # Mid-burst, one turn server dies without a chance to finish anything.
    killed = cluster.of_role("turns")[0]
    os.kill(killed["pid"], signal.SIGKILL)
    post_with_redeliveries(cluster, second)
    sent = first + second
    wait_until_finished(cluster, len(sent), timeout=300)

    states = inbox_states(cluster)
    assert {state for _, state, _, _ in states} == {"done"}
    # Every message's turn replied, and the dead server's messages were taken over.
    assert all(replied for _, _, _, replied in states)
    assert any(attempts > 1 for _, _, attempts, _ in states)

    turns = user_turns(cluster)
    for buyer in BUYERS:
        ids = [message_id for message_id, _ in sent if message_id.endswith(buyer)]
        stored = turns[f"kemi:whatsapp:{buyer}"]
        # Once each (a message whose reply went out before the crash is not run again), and
        # in the order the buyer sent them.
        assert len(stored) == len(set(stored)), f"a message ran twice: {stored}"
        assert stored == [message_id for message_id in ids if message_id in stored]
        assert len(stored) >= len(ids) - 1
    recipients = {recipient_of(send["body"]) for send in graph_double.sent()}
    assert recipients == set(BUYERS)


def test_a_webhook_the_database_refuses_gets_a_503_and_its_redelivery_is_answered(
    cluster: Cluster, graph_double: GraphDoubleThread
) -> None:
    name = sa.engine.make_url(cluster.env["DATABASE_URL"]).database
    admin = sa.create_engine(
        sa.engine.make_url(cluster.env["DATABASE_URL"]).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        future=True,
    )
    message = wa_text("are you there?", sender="2348031119999")
    payload = whatsapp([message])
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
        assert cluster.post(payload) == 503
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        admin.dispose()
    before = len(inbox_states(cluster))
    assert cluster.post(payload) == 200
    wait_until_finished(cluster, before + 1, timeout=120)
    assert inbox_states(cluster)[-1][1:] == ("done", 1, True)
    assert any(recipient_of(s["body"]) == "2348031119999" for s in graph_double.sent())
