"""Fixtures of the end-to-end tests: S3 played by moto's server on loopback, and the environment
the assistant runs with (its own database files, free ports, test secrets)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from bot.platform.settings import PROJECT_ROOT
from devtools.graph_double import GraphDoubleThread
from devtools.ports import free_port
from tests.conftest import BUCKET, JWT_SECRET, OTP_SECRET
from tests.e2e.harness import API_TOKEN, MODEL
from tests.helpers.meta import APP_SECRET, VERIFY_TOKEN

DEFAULT_SHOP = "e2e-shop"


@pytest.fixture
def s3_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def env(tmp_path: Path, database_url: str, s3_server: str) -> dict[str, str]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
        "JWT_SECRET": JWT_SECRET,
        "OTP_SECRET": OTP_SECRET,
        "META_APP_SECRET": APP_SECRET,
        "META_VERIFY_TOKEN": VERIFY_TOKEN,
        "DEFAULT_SHOP": DEFAULT_SHOP,
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "API_PORT": str(free_port()),
        "RASA_API_TOKEN": API_TOKEN,
        "AWS_ENDPOINT_URL": s3_server,
        "PYTHONPATH": str(PROJECT_ROOT),
    }


@pytest.fixture
def meta_env(env: dict[str, str], graph: GraphDoubleThread) -> dict[str, str]:
    """The environment of an assistant whose Graph API calls go to the double."""
    return {
        **env,
        "GRAPH_API_URL": graph.url,
        "WHATSAPP_ACCESS_TOKEN": "test-whatsapp-token",
        "INSTAGRAM_ACCESS_TOKEN": "test-instagram-token",
    }
