"""The assistant as the benchmarks run it: a fresh environment (secrets, databases, ports) for
one run, its database migrated with the one shop every benchmark talks to, the assistant started
as ``make run`` starts it, and the URLs of its WhatsApp channel."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.processes import START_TIMEOUT, running
from bench.reporting import print_log_summary
from bot.platform.readiness import wait_until_ready
from bot.platform.settings import PROJECT_ROOT
from devtools.ports import free_port

MODEL = PROJECT_ROOT / "models" / "trustguard.tar.gz"
SHOP_ID = "bench-shop"
SHOP_NAME = "Bench Fabrics"
PHONE_NUMBER_ID = "106540352240001"
WEBHOOK_PATH = "/webhooks/whatsapp/webhook"
# The channel's health route answers without any I/O: all it can wait for is the event loop.
CHANNEL_HEALTH_PATH = "/webhooks/whatsapp/"


def assistant_env(workdir: Path, graph_url: str, app_secret: str) -> dict[str, str]:
    """Fresh secrets and files for this run; what is set here wins over the developer's .env."""
    actions_port = free_port()
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'app.db'}",
        "TRACKER_STORE_URL": f"sqlite:///{workdir / 'tracker.db'}",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "OTP_SECRET": secrets.token_urlsafe(48),
        "META_APP_SECRET": app_secret,
        "META_VERIFY_TOKEN": secrets.token_urlsafe(16),
        "GRAPH_API_URL": graph_url,
        "WHATSAPP_ACCESS_TOKEN": "bench-whatsapp-token",
        # The per-shop secrets file defaults to var/, which a benchmark must never touch.
        "SHOP_SECRETS_FILE": str(workdir / "shop-secrets.json"),
        "DEFAULT_SHOP": SHOP_ID,
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(actions_port),
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
        "RASA_API_TOKEN": secrets.token_urlsafe(32),
        "ACTION_SERVER_TOKEN": secrets.token_urlsafe(32),
        "RASA_TELEMETRY_ENABLED": "false",
        # No S3 here: boto3 must not go looking for credentials beyond loopback.
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def admin(env: dict[str, str], *args: str) -> None:
    """``python -m bot ...``; its error output becomes the exception when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -m bot {' '.join(args)} failed: {done.stderr.strip()}")


@dataclass(frozen=True)
class Assistant:
    """The launcher's process (both servers are its children), where the Rasa server listens,
    and the app database."""

    process: subprocess.Popen
    url: str
    database: Path


def start_assistant(
    stack: contextlib.ExitStack, workdir: Path, graph_url: str, app_secret: str
) -> Assistant:
    """``python -m bot.launcher`` on the run's own environment and migrated database, stopped
    (and the errors of its log summarised) when ``stack`` closes; returned once it is ready."""
    if not MODEL.exists():
        raise RuntimeError(f"{MODEL} is missing: run `make train` first")
    env = assistant_env(workdir, graph_url, app_secret)
    prepare_database(env)
    log = workdir / "assistant.log"
    stack.callback(print_log_summary, log)
    assistant = stack.enter_context(running([sys.executable, "-m", "bot.launcher"], env, log))
    url = f"http://127.0.0.1:{env['RASA_PORT']}"
    wait_until_ready(
        f"{url}/status?token={env['RASA_API_TOKEN']}", assistant, START_TIMEOUT,
        what="the assistant",
    )  # fmt: skip
    return Assistant(assistant, url, workdir / "app.db")


def prepare_database(env: dict[str, str]) -> None:
    """Migrates the run's database and adds the shop, on the WhatsApp number the benchmarks
    write to."""
    admin(env, "db", "upgrade")
    admin(env, "shop", "add", "--id", SHOP_ID, "--name", SHOP_NAME,
          "--whatsapp-phone-id", PHONE_NUMBER_ID)  # fmt: skip
