"""Buyers are people, end to end: an order made for a phone number is seen by whoever proves
the number, on WhatsApp with or without the number shown, and on Instagram through a code sent
to WhatsApp; the same person at another shop sees nothing of it. Both servers run as `make run`
starts them; webhooks are signed and replies read at the Graph API double."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from devtools.graph_double import GraphDoubleThread, recipient_of
from tests.e2e.harness import Assistant, add_kemi_and_tunde, cli, is_order_notice
from tests.e2e.test_meta_conversation import body_text, code_in
from tests.helpers.meta import (
    OTHER_PHONE_NUMBER_ID,
    PHONE_NUMBER_ID,
    ig_event,
    instagram,
    signed,
    wa_from_user,
    whatsapp,
)

pytestmark = pytest.mark.e2e
NUMBER = "0803 111 2222"
WA_ID = "2348031112222"
BSUID = "NG.5550001112223"


class Person:
    """One person writing to shops from WhatsApp (number shown or withheld) and Instagram."""

    def __init__(self, assistant: Assistant, graph: GraphDoubleThread) -> None:
        self.assistant, self.graph = assistant, graph

    def _post(self, channel: str, payload: dict[str, Any]) -> None:
        body, headers = signed(payload)
        url = f"{self.assistant.url}/webhooks/{channel}/webhook"
        assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 200

    def _wait(self, matches, before: int) -> list[dict[str, Any]]:
        started = time.monotonic()
        while len([s for s in self.graph.sent() if matches(s)]) == before:
            assert time.monotonic() - started < 30, "no reply within 30 s"
            time.sleep(0.05)
        seen = -1
        while True:
            mine = [s for s in self.graph.sent() if matches(s)]
            if len(mine) == seen:
                return mine[before:]
            seen = len(mine)
            time.sleep(0.6)

    def whatsapp(self, text: str, *, shown: bool = True, account: str = PHONE_NUMBER_ID) -> str:
        """Replies reach her by number once the shop knows it, shown or not."""

        def matches(send: dict[str, Any]) -> bool:
            body = send["body"]
            mine = send["account_id"] == account and recipient_of(body) == WA_ID
            return mine and not is_order_notice(body)

        before = len([s for s in self.graph.sent() if matches(s)])
        message = wa_from_user(
            "text", {"text": {"body": text}}, phone=WA_ID if shown else None, user_id=BSUID
        )
        self._post("whatsapp", whatsapp([message], phone_number_id=account))
        return "\n".join(body_text(s["body"]) for s in self._wait(matches, before))

    def instagram(self, text: str, igsid: str = "IGSID-9") -> str:
        def matches(send: dict[str, Any]) -> bool:
            recipient = send["body"].get("recipient")
            mine = isinstance(recipient, dict) and recipient.get("id") == igsid
            return mine and not is_order_notice(send["body"])

        before = len([s for s in self.graph.sent() if matches(s)])
        self._post("instagram", instagram([ig_event({"text": text}, sender=igsid)]))
        return "\n".join(body_text(s["body"]) for s in self._wait(matches, before))

    def code_sent_to_the_number(self) -> str:
        (template,) = [s for s in self.graph.sent() if s["body"].get("type") == "template"]
        assert template["body"]["to"] == WA_ID and "recipient" not in template["body"]
        return template["body"]["template"]["components"][0]["parameters"][0]["text"]


def test_an_order_for_a_number_reaches_whoever_proves_it_and_nobody_else(
    meta_env: dict[str, str], graph: GraphDoubleThread, database_url: str
) -> None:
    add_kemi_and_tunde(meta_env)
    cli(meta_env, "shop", "settings", "kemi", "--code-template", "kemi_code")
    order = cli(
        meta_env,
        "order", "create", "--shop", "kemi", "--phone", NUMBER,
        "--amount", "18500", "--description", "Adire kimono",
    )[-1]  # fmt: skip

    assistant = Assistant(meta_env)
    try:
        ada = Person(assistant, graph)
        # On WhatsApp with the number shown: the order is hers once she is verified.
        welcome = ada.whatsapp("hi")
        assert "Kemi's Closet" in welcome
        assert "verified" in ada.whatsapp(f"verify {code_in(welcome)}")
        assert "Adire kimono" in ada.whatsapp(f"order {order}")
        # Later she adopts a username and withholds the number: same conversation, same orders,
        # and replies still reach her number, which the shop knows.
        assert "Adire kimono" in ada.whatsapp("where is my order", shown=False)

        # On Instagram she is a stranger until she proves the number with a code sent to it.
        welcome = ada.instagram("hi")
        assert "verified" in ada.instagram(code_in(welcome))
        assert "couldn't find" in ada.instagram(f"order {order}")
        assert "***2222" in ada.instagram(f"link my number {NUMBER}")
        linked = ada.instagram(f"verify {ada.code_sent_to_the_number()}")
        assert "***2222 is linked" in linked
        assert "Adire kimono" in ada.instagram(f"order {order}")

        # The same person at another shop: a separate buyer who sees nothing of Kemi's.
        welcome = ada.whatsapp("hello", account=OTHER_PHONE_NUMBER_ID)
        assert "Tunde Gadgets" in welcome
        ada.whatsapp(f"verify {code_in(welcome)}", account=OTHER_PHONE_NUMBER_ID)
        assert "couldn't find" in ada.whatsapp(f"order {order}", account=OTHER_PHONE_NUMBER_ID)
    finally:
        assistant.stop()

    undelivered = [s for s in graph.sent() if str(s["body"].get("to", "")).startswith("NG.")]
    assert undelivered == []
    with sa.create_engine(database_url).connect() as connection:
        buyers = connection.execute(
            sa.text("SELECT shop_id, phone FROM buyers ORDER BY shop_id, id")
        ).all()
    assert [tuple(b) for b in buyers] == [("kemi", "+2348031112222"), ("tunde", "+2348031112222")]
