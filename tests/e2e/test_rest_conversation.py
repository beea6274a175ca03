"""The whole buyer journey over Rasa's REST channel, with both servers running as `make run`
starts them, a shop and an order made with the CLI, and S3 played by moto's server on loopback."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import requests
import sqlalchemy as sa
from moto.server import ThreadedMotoServer

from bot.codes import OTP_CODE_PATTERN
from bot.settings import PROJECT_ROOT
from tests.conftest import BUCKET, JWT_SECRET, OTP_SECRET

pytestmark = pytest.mark.e2e
MODEL = PROJECT_ROOT / "models" / "trustguard.tar.gz"
SHOP = "e2e-shop"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def env(tmp_path: Path, database_url: str, s3_server: str) -> Dict[str, str]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
        "JWT_SECRET": JWT_SECRET,
        "OTP_SECRET": OTP_SECRET,
        "DEFAULT_SHOP": SHOP,
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "RASA_API_TOKEN": "e2e-api-token",
        "AWS_ENDPOINT_URL": s3_server,
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def cli(env: Dict[str, str], *args: str) -> List[str]:
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()


class Assistant:
    """`python -m bot.launcher`, as `make run` starts it."""

    def __init__(self, env: Dict[str, str]) -> None:
        self.env = env
        self.url = f"http://127.0.0.1:{env['RASA_PORT']}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.launcher"], env=env, cwd=PROJECT_ROOT
        )
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the launcher exited during start-up"
            try:
                if requests.get(f"{self.url}/status", params={"token": "e2e-api-token"}).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(1)
        self.stop()
        pytest.fail("the assistant did not start in 240 s")

    def say(self, sender: str, text: str) -> List[dict]:
        reply = requests.post(
            f"{self.url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            timeout=30,
        )
        reply.raise_for_status()
        return reply.json()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def texts(replies: List[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def test_buyer_journey_over_rest(env: Dict[str, str], database_url: str, tmp_path: Path) -> None:
    cli(env, "shop", "add", "--id", SHOP, "--name", "Kemi's Closet")
    order_id = cli(
        env,
        "order",
        "create",
        "--shop",
        SHOP,
        "--channel",
        "rest",
        "--buyer",
        "kemi",
        "--amount",
        "25000",
        "--description",
        "Adire two-piece",
    )[-1]
    assert re.fullmatch(r"ORD-[0-9A-HJKMNP-TV-Z]{6}", order_id)

    assistant = Assistant(env)
    try:
        welcome = texts(assistant.say("kemi", "hi"))
        assert "Kemi's Closet" in welcome
        code = re.search(OTP_CODE_PATTERN, welcome).group(0)

        assert "isn't right" in texts(assistant.say("kemi", "verify ZZZZ#222"))
        assert "verified" in texts(assistant.say("kemi", f"verify {code.lower()}"))

        confirmed = texts(assistant.say("kemi", "confirm"))
        assert f"{order_id} is confirmed" in confirmed and "₦25,000.00" in confirmed

        status = texts(assistant.say("kemi", f"order {order_id.lower().replace('-', '')}"))
        assert order_id in status and "Adire two-piece" in status and "confirmed" in status

        upload = assistant.say("kemi", "upload")
        form = next(r["custom"]["receipt_upload"] for r in upload if "custom" in r)
        assert form["order_id"] == order_id
        assert "upload" in texts(upload)

        assert "Reply yes or no" in texts(
            assistant.say("kemi", f"cancel {order_id} I changed my mind")
        )
        assert assistant.stop() == 0
        # The conversation survives a restart: the answer still refers to the question.
        assistant = Assistant(env)
        assert "is cancelled" in texts(assistant.say("kemi", "yes"))

        snooped = texts(assistant.say("snooper", f"order {order_id}"))
        assert "Adire" not in snooped and "register" in snooped
        nonsense = texts(assistant.say("kemi", "sdfkj qwpoe zzx"))
        assert "help" in nonsense.lower()
    finally:
        assistant.stop()

    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        status, reason = connection.execute(
            sa.text("SELECT status, cancel_reason FROM orders WHERE id = :id"), {"id": order_id}
        ).one()
        assert (status, reason) == ("cancelled", "I changed my mind")
        actions = connection.execute(
            sa.text("SELECT action FROM audit_events ORDER BY id")
        ).scalars()
        assert list(actions) == [
            "order.created",
            "code.issued",
            "code.failed",
            "code.verified",
            "token.issued",
            "order.confirmed",
            "receipt.upload_link_issued",
            "order.cancelled",
        ]
    tracker_db = sa.create_engine(env["TRACKER_STORE_URL"])
    with tracker_db.connect() as connection:
        history = " ".join(connection.execute(sa.text("SELECT data FROM events")).scalars())
    assert code not in history and code.lower() not in history
    assert "verify [redacted]" in history
