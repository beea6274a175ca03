"""Running the assistant as `make run` does, for the end-to-end tests."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bot.platform.readiness import NotReady, wait_until_ready
from bot.platform.settings import PROJECT_ROOT
from tests.helpers.meta import IG_ACCOUNT_ID, OTHER_PHONE_NUMBER_ID, PHONE_NUMBER_ID

MODEL = PROJECT_ROOT / "models" / "trustguard.tar.gz"
API_TOKEN = "e2e-api-token"


def is_order_notice(body: dict) -> bool:
    """A new order's message to its buyer (its first button: Confirm), which the API's worker
    sends when the buyer writes, whenever it gets to it: never a reply to what the buyer said."""
    interactive = body.get("interactive") or {}
    buttons = [
        b.get("reply", {}).get("title") for b in interactive.get("action", {}).get("buttons", [])
    ]
    quick = [q.get("title") for q in (body.get("message") or {}).get("quick_replies", [])]
    return "Confirm" in (buttons[:1] + quick[:1])


def cli(env: dict[str, str], *args: str) -> list[str]:
    """``python -m bot ...``; its output lines."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()


def add_shop(
    env: dict[str, str],
    shop_id: str,
    name: str,
    *,
    whatsapp_phone_id: str | None = None,
    instagram_account_id: str | None = None,
) -> None:
    """``python -m bot shop add``, with the shop's Meta accounts when it has them."""
    accounts: list[str] = []
    if whatsapp_phone_id is not None:
        accounts += ["--whatsapp-phone-id", whatsapp_phone_id]
    if instagram_account_id is not None:
        accounts += ["--instagram-account-id", instagram_account_id]
    cli(env, "shop", "add", "--id", shop_id, "--name", name, *accounts)


def add_kemi_and_tunde(env: dict[str, str]) -> None:
    """Two shops of the Meta tests: Kemi's Closet on WhatsApp and Instagram, Tunde Gadgets on
    another WhatsApp number."""
    add_shop(
        env, "kemi", "Kemi's Closet",
        whatsapp_phone_id=PHONE_NUMBER_ID, instagram_account_id=IG_ACCOUNT_ID,
    )  # fmt: skip
    add_shop(env, "tunde", "Tunde Gadgets", whatsapp_phone_id=OTHER_PHONE_NUMBER_ID)


class Assistant:
    """``python -m bot.launcher``: both servers, as `make run` starts them."""

    def __init__(self, env: dict[str, str], log: Path | None = None) -> None:
        """``log``: where both servers' output goes (appended), instead of the test's own."""
        if "GRAPH_API_URL" in env:
            # Instagram sends follow the Graph double too, whatever a developer's .env says.
            env = {**env, "INSTAGRAM_GRAPH_API_URL": env["GRAPH_API_URL"]}
        self.env = env
        self.url = f"http://127.0.0.1:{env['RASA_PORT']}"
        output = log.open("ab") if log else None  # noqa: SIM115  (closed by stop)
        self._output = output
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.launcher"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=output,
        )
        try:
            wait_until_ready(
                f"{self.url}/status?token={API_TOKEN}", self.process, 240, what="the launcher"
            )
        except NotReady as error:
            self.stop()
            pytest.fail(f"the assistant did not start: {error}")

    def say(self, sender: str, text: str) -> list[dict]:
        """One message over the REST channel; the replies."""
        reply = requests.post(
            f"{self.url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            timeout=30,
        )
        reply.raise_for_status()
        return reply.json()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        finally:
            if self._output:
                self._output.close()
