"""The upload page over real HTTP, as the Rasa server serves it (credentials.yml): the page, a
file posted to the assistant (local store) or straight to S3 (moto's server), the limits (10 MiB
on this route, 3 MB on every other), single use, and the buyer told in their WhatsApp chat."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import pytest
import requests
import sqlalchemy as sa
from moto.server import ThreadedMotoServer

from bot.platform import db, storage
from bot.platform.models import Receipt, UploadLink
from bot.platform.settings import get_settings
from bot.shop.receipts import MAX_BYTES
from connectors.receipts import ReceiptUploadInput
from devtools.graph_double import GraphDoubleThread
from devtools.ports import free_port
from tests.conftest import BUCKET
from tests.connectors.conftest import LAUNCHER_LIMIT, SAMPLE, a_link


def post_file(url: str, content: bytes, name: str = "receipt.jpg") -> requests.Response:
    return requests.post(url, files={"file": (name, content, "image/jpeg")}, timeout=60)


def test_the_page_shows_the_order_and_a_plain_form(server: str) -> None:
    url, order_id = a_link()
    page = requests.get(url, timeout=10)
    assert page.status_code == 200
    assert "Mama Put Fabrics" in page.text and order_id in page.text
    assert f"₦{SAMPLE.amount_kobo // 100:,}.00" in page.text
    assert page.text.count('type="file"') == 1 and "<script" not in page.text
    assert re.search(r'<form method="post" enctype="multipart/form-data">', page.text)
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "form-action 'self'" in policy
    assert "http" not in policy  # nothing from anywhere else


def test_a_file_posted_to_the_assistant_becomes_the_receipt_once(server: str) -> None:
    url, order_id = a_link()
    done = post_file(url, SAMPLE.content)
    assert done.status_code == 200 and "has arrived" in done.text
    with db.session_scope() as session:
        receipt = session.execute(sa.select(Receipt)).scalar_one()
        assert (receipt.order_id, receipt.source, receipt.status) == (order_id, "link", "received")
        assert receipt.verdict["amount"] == "match" and not receipt.flagged
        assert session.execute(sa.select(UploadLink.used_at)).scalar_one() is not None
    again = post_file(url, SAMPLE.rescreen)
    assert again.status_code == 410 and "already" in again.text
    assert requests.get(url, timeout=10).status_code == 410
    with db.session_scope() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Receipt)).scalar() == 1


@pytest.mark.parametrize(
    ("content", "status"),
    [(b"GIF89a not a receipt", 415), (b"", 400), (b"%PDF" + b"0" * 12, 415)],
)
def test_a_wrong_file_is_refused_and_the_link_still_works(
    server: str, content: bytes, status: int
) -> None:
    url, _ = a_link()
    refused = post_file(url, content)
    assert refused.status_code == status
    assert "Try again" in refused.text
    with db.session_scope() as session:
        assert session.execute(sa.select(Receipt)).first() is None
        assert session.execute(sa.select(UploadLink.used_at)).scalar_one() is None
    assert post_file(url, SAMPLE.content).status_code == 200


def test_this_route_takes_10_mib_while_every_other_keeps_3_mb(server: str) -> None:
    """The largest receipt allowed (a PNG of exactly 10 MiB) arrives; one byte more is
    refused; the REST webhook still refuses a body over 3 MB."""
    png = SAMPLE.content if SAMPLE.content_type == "image/png" else None
    biggest = (png or b"\x89PNG\r\n\x1a\n") + b"\0" * (MAX_BYTES - len(png or b"\x89PNG\r\n\x1a\n"))
    assert len(biggest) == MAX_BYTES > LAUNCHER_LIMIT
    url, _ = a_link()
    assert post_file(url, biggest + b"\0").status_code == 413
    assert post_file(url, biggest, "receipt.png").status_code == 200
    huge = {"sender": "x", "message": "a" * (LAUNCHER_LIMIT + 1024)}
    answer = requests.post(f"{server}/webhooks/rest/webhook", json=huge, timeout=30)
    assert answer.status_code == 413


@pytest.mark.parametrize("token", ["", "nonsense", "A" * 22])
def test_an_unknown_link_shows_nothing(server: str, token: str) -> None:
    a_link()
    answer = requests.get(f"{server}/webhooks/receipts/upload?t={token}", timeout=10)
    assert answer.status_code == 404 and "Mama Put" not in answer.text


def test_an_expired_link_is_refused(server: str) -> None:
    url, _ = a_link()
    with db.session_scope() as session:
        session.execute(sa.update(UploadLink).values(expires_at=UploadLink.created_at))
    assert requests.get(url, timeout=10).status_code == 410
    assert post_file(url, SAMPLE.content).status_code == 410


def test_a_whatsapp_buyer_is_told_in_the_chat(server: str, graph: GraphDoubleThread) -> None:
    url, order_id = a_link("whatsapp", "2348031234567")
    assert post_file(url, SAMPLE.content).status_code == 200
    sent = graph.sent()
    assert len(sent) == 1
    body = sent[0]["body"]
    assert body["to"] == "2348031234567"
    assert f"receipt for order {order_id} has arrived" in body["text"]["body"]
    assert "Mama Put Fabrics will check it" in body["text"]["body"]


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("RECEIPTS_BUCKET", BUCKET)
    get_settings.cache_clear()
    storage.reset_cache()
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    moto.stop()
    storage.reset_cache()


def test_with_s3_the_form_posts_to_the_bucket_and_comes_back(s3_server: str, server: str) -> None:
    url, order_id = a_link()
    page = requests.get(url, timeout=10)
    action = re.search(r'action="([^"]+)"', page.text).group(1)
    assert action.startswith(s3_server)
    assert f"form-action 'self' {s3_server}" in page.headers["Content-Security-Policy"]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    fields = {name: value.replace("&amp;", "&") for name, value in fields.items()}
    assert fields["success_action_redirect"].startswith(f"{server}/webhooks/receipts/done?t=")
    done = requests.post(action, data=fields, files={"file": ("r.jpg", SAMPLE.content)}, timeout=60)
    assert done.status_code == 200 and "has arrived" in done.text
    assert urlsplit(done.url).path == "/webhooks/receipts/done"
    s3 = boto3.client("s3", endpoint_url=s3_server)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith(f"shops/mama-put/orders/{order_id}/receipts/")
    with db.session_scope() as session:
        receipt = session.execute(sa.select(Receipt)).scalar_one()
        assert receipt.storage_key == keys[0] and receipt.verdict["amount"] == "match"


@pytest.mark.parametrize("path", ["upload", "done"])
def test_the_access_log_never_shows_a_links_token(path: str) -> None:
    ReceiptUploadInput().blueprint(lambda message: None)
    record = logging.makeLogRecord(
        {"request": f"GET http://127.0.0.1:5005/webhooks/receipts/{path}?t=SeCrEtToKeN"}
    )
    for log_filter in logging.getLogger("sanic.access").filters:
        log_filter.filter(record)
    assert record.request == f"GET http://127.0.0.1:5005/webhooks/receipts/{path}?[redacted]"
