"""A shop's own system and its owner drive the assistant, end to end: every server as `make run`
starts it, the shop's system on the API with a key from the CLI, the buyer and the owner on
WhatsApp (signed webhooks, replies at the Graph API double), and the shop's webhook a receiver
on loopback that fails twice, then checks each event's signature."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.graph_double import GraphDoubleThread, recipient_of
from tests.e2e.harness import Assistant, add_shop, cli
from tests.e2e.test_meta_conversation import BUYER, Chat, code_in
from tests.helpers.meta import PHONE_NUMBER_ID, wa_message
from tests.helpers.receiver import Receiver
from tests.helpers.waiting import eventually

pytestmark = pytest.mark.e2e
OWNER = "2348120001111"


class ShopSystem:
    """The shop's storefront: calls to the API with its key."""

    def __init__(self, env: dict[str, str], key: str) -> None:
        self.url = f"http://127.0.0.1:{env['API_PORT']}/api/v1"
        self.key = key

    def __call__(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self.key}"}
        answer = requests.request(method, self.url + path, headers=headers, timeout=15, **kwargs)
        assert answer.status_code < 400, answer.text
        return answer.json() if answer.content else None


def sends_to(graph: GraphDoubleThread, number: str) -> list[dict[str, Any]]:
    return [s for s in graph.sent() if recipient_of(s["body"]) == number]


def test_the_shop_system_buyer_and_owner_keep_each_other_told(
    meta_env: dict[str, str], graph: GraphDoubleThread, tmp_path: Path
) -> None:
    # Retries within seconds, not the production half minute.
    meta_env = {**meta_env, "OUTBOX_POLL_SECONDS": "0.2", "OUTBOX_RETRY_BASE_SECONDS": "0.5"}
    add_shop(meta_env, "kemi", "Kemi's Closet", whatsapp_phone_id=PHONE_NUMBER_ID)
    cli(meta_env, "shop", "settings", "kemi", "--owner-whatsapp", "0812 000 1111")
    key = cli(meta_env, "apikey", "create", "--shop", "kemi", "--name", "storefront")[-1]
    shop_system = ShopSystem(meta_env, key)
    log = tmp_path / "servers.log"
    secret: dict[str, str] = {}
    with Receiver(lambda: secret.get("value"), plan=[500, 502]) as receiver:
        assistant = Assistant(meta_env, log=log)
        try:
            secret["value"] = shop_system("PUT", "/webhook", json={"url": receiver.url})["secret"]
            buyer = Chat(assistant, graph, "whatsapp", phone_number_id=PHONE_NUMBER_ID)
            owner = Chat(
                assistant, graph, "whatsapp", phone_number_id=PHONE_NUMBER_ID, sender=OWNER
            )
            buyer.say(f"verify {code_in(buyer.say('hi'))}")

            # The storefront makes an order: the buyer, inside the window, gets it with buttons.
            order = shop_system(
                "POST",
                "/orders",
                json={"buyer": {"phone": "0803 111 2222"}, "amount_kobo": 1850000,
                      "description": "Adire kimono", "reference": "web-1001"},
                headers={"Idempotency-Key": "cart-1001"},
            )  # fmt: skip
            notice = eventually(
                lambda: next(
                    (s for s in sends_to(graph, BUYER) if order["id"] in json.dumps(s["body"])),
                    None,
                )
            )
            confirm = notice["body"]["interactive"]["action"]["buttons"][0]["reply"]
            assert confirm["title"] == "Confirm"

            # The buyer taps Confirm. The owner has not written in 24 hours and the shop has no
            # template: the owner's alert waits, and the storefront can see why.
            tap = wa_message(
                "interactive",
                {"interactive": {"type": "button_reply", "button_reply": confirm}},
                sender=BUYER,
            )
            assert f"{order['id']} is confirmed" in "\n".join(
                r["body"]["text"]["body"] for r in buyer.send(tap) if r["body"]["type"] == "text"
            )

            def owners_alert(state: str) -> dict[str, Any] | None:
                rows = shop_system("GET", "/notifications", params={"order_id": order["id"]})
                return next(
                    (n for n in rows["data"] if n["to"] == "owner" and n["state"] == state), None
                )

            waiting = eventually(lambda: owners_alert("waiting"))
            assert "no WhatsApp template is set for owner_order_confirmed" in waiting["reason"]

            # The owner writes: the command is answered, and the alert goes now.
            assert order["id"] in owner.say("orders")
            eventually(lambda: owners_alert("done"))
            alerts = [s["body"]["text"]["body"] for s in sends_to(graph, OWNER)]
            assert any(f"confirmed {order['id']}" in text for text in alerts)

            # The owner ships it from the chat: the buyer is told.
            assert owner.say(f"shipped {order['id']}") == (
                f"{order['id']} is now shipped. The buyer is told."
            )
            eventually(
                lambda: any(
                    "on its way" in json.dumps(s["body"], ensure_ascii=False)
                    for s in sends_to(graph, BUYER)
                )
            )
            assert shop_system("GET", f"/orders/{order['id']}")["status"] == "shipped"

            # Every event reached the storefront, signed; the first after two failures.
            def delivered() -> list[dict[str, Any]] | None:
                events = shop_system("GET", "/events")["data"]
                done = len(events) == 3 and all(e["state"] == "done" for e in events)
                return events if done else None

            events = eventually(delivered, timeout=30)
        finally:
            assistant.stop()

    assert sorted(e["type"] for e in events) == [
        "order.confirmed",
        "order.created",
        "order.status_changed",
    ]
    assert [r.status for r in receiver.received][:3] == [500, 502, 200]
    assert all(r.signed for r in receiver.received)
    assert len({json.loads(r.body)["id"] for r in receiver.received}) == 3
    # The servers' logs hold no key, secret, or full phone number.
    output = log.read_text()
    for secret_text in (key, secret["value"], "8031112222", "8120001111"):
        assert secret_text not in output
