"""A receipt through the upload link, end to end, as a newcomer would: both servers as `make
run` starts them, a REST buyer asks to upload, opens the link, posts the file, and the owner
sees the verdict with the CLI; on the embedded local store and on S3 (moto's server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from bench.receipts_corpus import samples
from bot.platform.patterns import OTP_CODE_PATTERN
from tests.conftest import BUCKET
from tests.e2e.conftest import DEFAULT_SHOP
from tests.e2e.harness import Assistant, add_shop, cli

pytestmark = pytest.mark.e2e
SAMPLE = next(iter(samples(1)))


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


@pytest.mark.parametrize("store", ["local", "s3"])
def test_a_receipt_through_the_upload_link(env: dict[str, str], store: str, tmp_path: Path) -> None:
    """At DEBUG: the link's token reaches neither the servers' logs nor the conversation
    history."""
    env = {**env, "LOG_LEVEL": "DEBUG"}
    if store == "s3":
        env = {**env, "RECEIPTS_BUCKET": BUCKET}
    log = tmp_path / "assistant.log"
    add_shop(env, DEFAULT_SHOP, "Kemi's Closet")
    naira = f"{SAMPLE.amount_kobo // 100}.{SAMPLE.amount_kobo % 100:02d}"
    order_id = cli(
        env, "order", "create", "--shop", DEFAULT_SHOP, "--channel", "rest", "--buyer", "ada",
        "--amount", naira, "--description", "Adire two-piece",
    )[-1]  # fmt: skip
    assistant = Assistant(env, log)
    try:
        code = re.search(OTP_CODE_PATTERN, texts(assistant.say("ada", "hi"))).group(0)
        assert "verified" in texts(assistant.say("ada", f"verify {code}"))
        answer = texts(assistant.say("ada", "upload"))
        link = re.search(r"http://\S+", answer).group(0)
        assert link.startswith(f"{assistant.url}/webhooks/receipts/upload?t=")
        token = link.split("?t=", 1)[1]

        page = requests.get(link, timeout=30)
        assert page.status_code == 200 and order_id in page.text
        target, fields = link, {}
        if store == "s3":
            target = re.search(r'action="([^"]+)"', page.text).group(1)
            assert target.startswith(env["AWS_ENDPOINT_URL"])
            fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
            fields = {name: value.replace("&amp;", "&") for name, value in fields.items()}
        files = {"file": ("receipt.jpg", SAMPLE.content, "image/jpeg")}
        done = requests.post(target, data=fields, files=files, timeout=120)
        assert done.status_code == 200 and f"receipt for order {order_id} has arrived" in done.text
        assert requests.get(link, timeout=30).status_code == 410  # used once
    finally:
        assistant.stop()

    order_line, receipt_line = cli(env, "order", "show", order_id, "--shop", DEFAULT_SHOP)
    assert "upload page" in receipt_line
    amount = f"₦{SAMPLE.amount_kobo // 100:,}.{SAMPLE.amount_kobo % 100:02d}"
    assert f"amount matches {amount}" in receipt_line
    # The sample transfer was made in 2026, before this order: the owner is told.
    assert "BEFORE the order was made" in receipt_line
    assert cli(env, "order", "receipts", "--shop", DEFAULT_SHOP, "--flagged") == [receipt_line]

    logged = log.read_text()
    assert "DEBUG" in logged and "/webhooks/receipts/upload" in logged
    assert token not in logged
    with sa.create_engine(env["TRACKER_STORE_URL"]).connect() as connection:
        history = " ".join(connection.execute(sa.text("SELECT data FROM events")).scalars())
    assert "/webhooks/receipts/upload?[redacted]" in history and token not in history
