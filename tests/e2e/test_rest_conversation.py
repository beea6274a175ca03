"""The whole buyer journey over Rasa's REST channel, with both servers running as `make run`
starts them, a shop and an order made with the CLI, and S3 played by moto's server on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from bot.platform.patterns import OTP_CODE_PATTERN
from tests.e2e.conftest import DEFAULT_SHOP
from tests.e2e.harness import Assistant, add_shop, cli

pytestmark = pytest.mark.e2e
SHOP = DEFAULT_SHOP


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def test_buyer_journey_over_rest(env: dict[str, str], database_url: str, tmp_path: Path) -> None:
    """At DEBUG, with a buyer portal (so a buyer token is issued): the servers' logs hold no
    code, token, upload link or full phone number."""
    env = {**env, "LOG_LEVEL": "DEBUG", "BUYER_PORTAL_URL": "https://portal.example.test"}
    log = tmp_path / "assistant.log"
    add_shop(env, SHOP, "Kemi's Closet")
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

    assistant = Assistant(env, log)
    try:
        welcome = texts(assistant.say("kemi", "hi"))
        assert "Kemi's Closet" in welcome
        code = re.search(OTP_CODE_PATTERN, welcome).group(0)

        assert "isn't right" in texts(assistant.say("kemi", "verify ZZZZ#222"))
        verified = texts(assistant.say("kemi", f"verify {code.lower()}"))
        assert "verified" in verified
        portal_token = re.search(r"#token=([\w.-]+)", verified).group(1)

        confirmed = texts(assistant.say("kemi", "confirm"))
        assert f"{order_id} is confirmed" in confirmed and "₦25,000.00" in confirmed

        status = texts(assistant.say("kemi", f"order {order_id.lower().replace('-', '')}"))
        assert order_id in status and "Adire two-piece" in status and "confirmed" in status

        upload = texts(assistant.say("kemi", "upload"))
        assert order_id in upload
        link_token = re.search(r"/webhooks/receipts/upload\?t=([\w-]+)", upload).group(1)

        assert "Reply yes or no" in texts(
            assistant.say("kemi", f"cancel {order_id} I changed my mind")
        )
        assert assistant.stop() == 0
        # The conversation survives a restart: the answer still refers to the question.
        assistant = Assistant(env, log)
        assert "is cancelled" in texts(assistant.say("kemi", "yes"))

        snooped = texts(assistant.say("snooper", f"order {order_id}"))
        assert "Adire" not in snooped and "register" in snooped
        nonsense = texts(assistant.say("kemi", "sdfkj qwpoe zzx, call me on 0803 123 4567"))
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
    assert link_token not in history
    assert "verify [redacted]" in history

    logged = log.read_text()
    assert "DEBUG" in logged  # it did log at DEBUG
    secrets = {
        "the code": code,
        "the code as typed": code.lower(),
        "the buyer token": portal_token,
        "the upload link's token": link_token,
        "the phone number": "0803 123 4567",
    }
    assert [name for name, value in secrets.items() if value in logged] == []


def test_a_rest_caller_cannot_speak_for_a_whatsapp_buyer(
    env: dict[str, str], database_url: str
) -> None:
    """The attack of the hardening issue, over HTTP with both servers up: metadata naming a
    WhatsApp buyer, and a sender named after that buyer's conversation, reach nothing of theirs."""
    buyer = "2348031234567"
    add_shop(env, SHOP, "Kemi's Closet", whatsapp_phone_id="100000042")
    order_id = cli(
        env, "order", "create", "--shop", SHOP, "--channel", "whatsapp", "--buyer", buyer,
        "--amount", "25000", "--description", "Adire two-piece",
    )[-1]  # fmt: skip
    claims = {"shop_id": SHOP, "channel": "whatsapp", "user_id": buyer}
    assistant = Assistant(env)
    try:
        webhook = f"{assistant.url}/webhooks/rest/webhook"
        body = {
            "sender": "x",
            "message": "register",
            "metadata": claims,
            "input_channel": "whatsapp",
        }
        answer = requests.post(webhook, json=body, timeout=30)
        assert answer.status_code == 200
        code = re.search(OTP_CODE_PATTERN, texts(answer.json())).group(0)
        body = {**body, "message": f"verify {code}"}
        requests.post(webhook, json=body, timeout=30).raise_for_status()
        body = {**body, "message": f"cancel {order_id}"}
        cancel = texts(requests.post(webhook, json=body, timeout=30).json())
        assert "Adire" not in cancel

        as_conversation = {"sender": f"{SHOP}:whatsapp:{buyer}", "message": "register"}
        refused = requests.post(webhook, json=as_conversation, timeout=30)
        assert refused.status_code == 400
        # Every route refuses a body over 3 MB before buffering it (Sanic's default: 100 MB).
        huge = {"sender": "x", "message": "a" * (4 * 1024 * 1024)}
        assert requests.post(webhook, json=huge, timeout=30).status_code == 413
    finally:
        assistant.stop()

    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        buyers = connection.execute(
            sa.text(
                "SELECT b.phone, i.channel, i.key, b.verified_at IS NOT NULL FROM buyers b "
                "LEFT JOIN buyer_identities i ON i.buyer_id = b.id"
            )
        ).all()
        # The order's buyer is known by the number alone; the REST caller is a stranger of its own.
        assert sorted(buyers, key=str) == [("+" + buyer, None, None, 0), (None, "rest", "x", 1)]
        whatsapp_codes = connection.execute(
            sa.text(
                "SELECT count(*) FROM otp_challenges JOIN buyers ON buyers.id = buyer_id "
                "WHERE buyers.phone IS NOT NULL"
            )
        ).scalar()
        assert whatsapp_codes == 0
        status = connection.execute(
            sa.text("SELECT status FROM orders WHERE id = :id"), {"id": order_id}
        ).scalar()
        assert status == "pending"
    tracker_db = sa.create_engine(env["TRACKER_STORE_URL"])
    with tracker_db.connect() as connection:
        senders = set(
            connection.execute(sa.text("SELECT DISTINCT sender_id FROM events")).scalars()
        )
    assert senders == {"x"}
