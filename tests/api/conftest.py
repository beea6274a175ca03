"""The shops' API as ``make run`` starts it: ``python -m bot.api`` in a process of its own, on a
free loopback port, with a database, a Graph API double and S3 (moto's server) of the module's
own; the tests make shops and keys in that database and talk to the API over HTTP.

Each test's shops are its own (``shop``), so tests of one module share the process, not data.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from bot.platform import db
from bot.platform.readiness import wait_until_ready
from bot.platform.settings import PROJECT_ROOT, get_settings
from bot.shop import api_keys, shops
from devtools.graph_double import GraphDoubleThread
from devtools.ports import free_port
from tests.conftest import BUCKET, JWT_SECRET, OTP_SECRET

_shop_numbers = itertools.count(1)


class Api:
    """A running API process and requests to it."""

    def __init__(self, url: str, process: subprocess.Popen, log: Path) -> None:
        self.url, self.process, self.log = url, process, log

    def call(
        self, method: str, path: str, key: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return requests.request(
            method, f"{self.url}/api/v1{path}", headers=headers, timeout=15, **kwargs
        )


def start_api(env: dict[str, str], log: Path) -> Api:
    port = free_port()
    output = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.api"],
        env={**env, "API_PORT": str(port)},
        cwd=PROJECT_ROOT,
        stdout=output,
        stderr=output,
    )
    output.close()
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(f"{url}/api/v1/openapi.json", process, 60, what="the API")
    return Api(url, process, log)


def stop_api(api: Api) -> None:
    api.process.terminate()
    try:
        api.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        api.process.kill()
        api.process.wait()


@pytest.fixture(scope="module")
def api_database(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> str:
    path = tmp_path_factory.mktemp("api") / "app.db"
    shutil.copy(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def database_url(api_database: str) -> str:
    """The tests of this package read and write the API process's database."""
    return api_database


@pytest.fixture(scope="module")
def module_graph() -> Iterator[GraphDoubleThread]:
    with GraphDoubleThread() as double:
        yield double


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def api_env(api_database: str, module_graph: GraphDoubleThread, s3_endpoint: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "DATABASE_URL": api_database,
        "JWT_SECRET": JWT_SECRET,
        "OTP_SECRET": OTP_SECRET,
        "GRAPH_API_URL": module_graph.url,
        "INSTAGRAM_GRAPH_API_URL": module_graph.url,
        "WHATSAPP_ACCESS_TOKEN": "test-whatsapp-token",
        "INSTAGRAM_ACCESS_TOKEN": "test-instagram-token",
        "RECEIPTS_BUCKET": BUCKET,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "OUTBOX_POLL_SECONDS": "0.2",
        "OUTBOX_RETRY_BASE_SECONDS": "0.5",
        "API_RATE_LIMIT": "100000",
        "LOG_LEVEL": "DEBUG",
    }


@pytest.fixture(scope="module")
def api(api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    running = start_api(api_env, tmp_path_factory.mktemp("api-log") / "api.log")
    yield running
    stop_api(running)


@pytest.fixture
def graph(module_graph: GraphDoubleThread) -> GraphDoubleThread:
    """The module's Graph double (the API process was started pointing at it)."""
    return module_graph


@pytest.fixture
def test_env(monkeypatch: pytest.MonkeyPatch, api_env: dict[str, str]) -> None:
    """This process as the API process sees the world (Graph double, S3)."""
    for name in ("GRAPH_API_URL", "INSTAGRAM_GRAPH_API_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(name, api_env[name])
    get_settings.cache_clear()


def new_shop(name: str = "Mama Put Fabrics", **accounts: str) -> str:
    """A shop of the test's own in the API's database."""
    shop_id = f"shop-{next(_shop_numbers)}-{os.getpid()}"
    with db.session_scope() as session:
        shops.add_shop(session, shop_id, name, **accounts)
    return shop_id


def new_key(shop_id: str, name: str = "storefront") -> str:
    with db.session_scope() as session:
        return api_keys.create_key(session, shop_id, name)[1]


@pytest.fixture
def shop() -> str:
    return new_shop()


@pytest.fixture
def key(shop: str) -> str:
    return new_key(shop)
