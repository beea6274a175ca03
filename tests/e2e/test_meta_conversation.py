"""The buyer journey on WhatsApp and on Instagram, end to end: both servers running as `make run`
starts them, signed webhooks posted to the channels, replies observed at the Graph API double."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from bot.platform.patterns import OTP_CODE_PATTERN
from bot.shop.profile import default_variants
from devtools.graph_double import GraphDoubleThread, recipient_of
from tests.e2e.harness import Assistant, add_kemi_and_tunde, add_shop, cli, is_order_notice
from tests.helpers.meta import (
    IG_ACCOUNT_ID,
    OTHER_PHONE_NUMBER_ID,
    PHONE_NUMBER_ID,
    ig_event,
    instagram,
    signed,
    wa_message,
    wa_photo,
    wa_text,
    whatsapp,
)

pytestmark = pytest.mark.e2e
BUYER = "2348031112222"
JPEG = b"\xff\xd8\xff\xe0" + b"bank transfer receipt" * 40


class Chat:
    """One buyer talking to one shop account, as Meta would relay it."""

    def __init__(self, assistant: Assistant, graph: GraphDoubleThread, channel: str, **who: str):
        self.assistant, self.graph, self.channel, self.who = assistant, graph, channel, who
        self.user = who.get("sender", BUYER)

    def replies(self) -> list[dict[str, Any]]:
        def to_me(send: dict[str, Any]) -> bool:
            recipient = recipient_of(send["body"])
            account = self.who.get("phone_number_id") or self.who.get("account_id")
            mine = recipient == self.user and send["account_id"] == account
            return mine and not is_order_notice(send["body"])

        return [send for send in self.graph.sent() if to_me(send)]

    def send(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """Post one signed webhook and return the replies it caused."""
        before = len(self.replies())
        if self.channel == "whatsapp":
            payload = whatsapp([message], phone_number_id=self.who["phone_number_id"])
        else:
            payload = instagram([message], account_id=self.who["account_id"])
        body, headers = signed(payload)
        url = f"{self.assistant.url}/webhooks/{self.channel}/webhook"
        started = time.monotonic()
        assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 200
        while len(self.replies()) == before:
            assert time.monotonic() - started < 30, "no reply within 30 s"
            time.sleep(0.05)
        # A turn may answer with several messages: wait until they stop coming.
        seen = len(self.replies())
        while True:
            time.sleep(0.6)
            if len(self.replies()) == seen:
                return self.replies()[before:]
            seen = len(self.replies())

    def say(self, text: str) -> str:
        if self.channel == "whatsapp":
            message = wa_text(text, sender=self.user)
        else:
            message = ig_event({"text": text}, sender=self.user)
        return "\n".join(body_text(r["body"]) for r in self.send(message))


def new_order(
    env: dict[str, str], shop: str, channel: str, buyer: str, naira: str, description: str
) -> str:
    """An order made with the CLI, as the shop owner would; its id."""
    command = ["order", "create", "--shop", shop, "--channel", channel, "--buyer", buyer]
    return cli(env, *command, "--amount", naira, "--description", description)[-1]


def body_text(body: dict[str, Any]) -> str:
    if "text" in body and isinstance(body["text"], dict):
        return body["text"]["body"]
    if "interactive" in body:
        return body["interactive"]["body"]["text"]
    return body.get("message", {}).get("text", "")


def code_in(text: str) -> str:
    return re.search(OTP_CODE_PATTERN, text).group(0)


def test_whatsapp_journey_and_two_shops_sharing_a_buyer(
    meta_env: dict[str, str], graph: GraphDoubleThread, database_url: str
) -> None:
    add_kemi_and_tunde(meta_env)
    kemi_order = new_order(meta_env, "kemi", "whatsapp", BUYER, "18500", "Adire kimono")
    tunde_order = new_order(meta_env, "tunde", "whatsapp", BUYER, "95000", "Used iPhone")

    assistant = Assistant(meta_env)
    try:
        kemi = Chat(assistant, graph, "whatsapp", phone_number_id=PHONE_NUMBER_ID)
        welcome = kemi.say("hi")
        assert "Kemi's Closet" in welcome
        assert "verified" in kemi.say(f"verify {code_in(welcome)}")
        assert f"{kemi_order} is confirmed" in kemi.say("confirm")
        assert "Adire kimono" in kemi.say(f"order {kemi_order}")
        assert "right here in this chat" in kemi.say("I wan send my payment receipt")

        media_id = graph.add_media(JPEG, "image/jpeg")
        photo = wa_photo(media_id, JPEG, sender=BUYER)
        thanks = "\n".join(body_text(r["body"]) for r in kemi.send(photo))
        assert f"attached your receipt to order {kemi_order}" in thanks
        # The owner sees it with its verdict (nothing can be read from this made-up photo).
        shown = cli(meta_env, "order", "show", kemi_order, "--shop", "kemi")
        assert "chat" in shown[-1] and "FLAGGED" in shown[-1] and "amount unreadable" in shown[-1]

        [question] = kemi.send(
            wa_text(f"cancel {kemi_order} I ordered the wrong size", sender=BUYER)
        )
        buttons = question["body"]["interactive"]["action"]["buttons"]
        yes = next(b["reply"] for b in buttons if b["reply"]["id"] == "/affirm")
        tap = wa_message(
            "interactive",
            {"interactive": {"type": "button_reply", "button_reply": yes}},
            sender=BUYER,
        )
        assert "is cancelled" in "\n".join(body_text(r["body"]) for r in kemi.send(tap))

        # The same number at another shop: a separate buyer who sees only that shop's orders.
        tunde = Chat(assistant, graph, "whatsapp", phone_number_id=OTHER_PHONE_NUMBER_ID)
        welcome = tunde.say("hello")
        assert "Tunde Gadgets" in welcome and "Kemi" not in welcome
        tunde.say(f"verify {code_in(welcome)}")
        assert "couldn't find" in tunde.say(f"order {kemi_order}")
        assert "Used iPhone" in tunde.say(f"order {tunde_order}")
    finally:
        assistant.stop()

    with sa.create_engine(database_url).connect() as connection:
        orders = dict(connection.execute(sa.text("SELECT id, status FROM orders")).all())
        assert orders == {kemi_order: "cancelled", tunde_order: "pending"}
        receipts = connection.execute(sa.text("SELECT order_id, status FROM receipts")).all()
        assert receipts == [(kemi_order, "received")]
        states = set(connection.execute(sa.text("SELECT state FROM inbox_messages")).scalars())
        assert states == {"done"}
        unsent = connection.execute(
            sa.text("SELECT count(*) FROM outbound_messages WHERE platform_message_id IS NULL")
        ).scalar()
        assert unsent == 0


def test_instagram_journey(meta_env: dict[str, str], graph: GraphDoubleThread) -> None:
    add_shop(meta_env, "kemi", "Kemi's Closet", instagram_account_id=IG_ACCOUNT_ID)
    order_id = new_order(meta_env, "kemi", "instagram", "IGSID-77", "7000", "Beaded bag")
    assistant = Assistant(meta_env)
    try:
        ada = Chat(assistant, graph, "instagram", account_id=IG_ACCOUNT_ID, sender="IGSID-77")
        welcome = ada.say("hi")
        assert "Kemi's Closet" in welcome
        assert "verified" in ada.say(code_in(welcome))
        status = ada.say(f"where is {order_id}")
        assert "Beaded bag" in status and "₦7,000.00" in status
        assert "is confirmed" in ada.say(f"confirm {order_id}")
    finally:
        assistant.stop()


def test_two_shops_with_their_own_tone_words_and_features(
    meta_env: dict[str, str], graph: GraphDoubleThread, tmp_path
) -> None:
    add_shop(meta_env, "kemi", "Kemi's Closet", whatsapp_phone_id=PHONE_NUMBER_ID)
    add_shop(meta_env, "tunde", "Tunde Gadgets", whatsapp_phone_id=OTHER_PHONE_NUMBER_ID)
    cli(
        meta_env,
        "shop",
        "settings",
        "kemi",
        "--tone",
        "professional",
        "--welcome",
        "Good day {buyer_name}, welcome to {shop_name}.",
        "--contact-line",
        "Please call Kemi on 0803 123 4567.",
        "--disable",
        "order_tracking",
        "--enable",
        "address_collection",
    )
    cli(meta_env, "shop", "settings", "tunde", "--tone", "casual")
    own = tmp_path / "tunde.yml"
    own.write_text(
        'responses:\n  utter_thanks:\n    - text: "Tunde says thank you, {buyer_name}!"\n'
    )
    cli(meta_env, "responses", "import", "--shop", "tunde", str(own))
    kemi_order = new_order(meta_env, "kemi", "whatsapp", BUYER, "18500", "Adire kimono")
    new_order(meta_env, "tunde", "whatsapp", BUYER, "95000", "Used iPhone")

    assistant = Assistant(meta_env)
    try:
        kemi = Chat(assistant, graph, "whatsapp", phone_number_id=PHONE_NUMBER_ID)
        welcome = kemi.say("hi")
        assert welcome.startswith("Good day Ada, welcome to Kemi's Closet.")
        kemi.say(f"verify {code_in(welcome)}")
        refused = kemi.say(f"order {kemi_order}")
        assert "order tracking" in refused and "Please call Kemi on 0803 123 4567." in refused

        asked = kemi.say("confirm")
        assert "delivery address" in asked and "street" in asked.lower()
        assert "city" in kemi.say("12 Allen Avenue").lower()
        assert "state" in kemi.say("Ikeja").lower()
        assert "36 states" in kemi.say("London")
        assert "phone" in kemi.say("lagos state").lower()
        confirmed = kemi.say("0803 123 4567")
        assert f"{kemi_order}" in confirmed and "12 Allen Avenue, Ikeja, Lagos" in confirmed

        tunde = Chat(assistant, graph, "whatsapp", phone_number_id=OTHER_PHONE_NUMBER_ID)
        welcome = tunde.say("hi")
        assert welcome.startswith("Welcome to Tunde Gadgets!") and "Good day" not in welcome
        tunde.say(f"verify {code_in(welcome)}")
        assert tunde.say("thank you") == "Tunde says thank you, Ada!"
        assert "Used iPhone" in tunde.say("where is my order")

        # The owner changes their words while the assistant runs: the next message has them.
        own.write_text('responses:\n  utter_thanks:\n    - text: "Tunde dey grateful o!"\n')
        cli(meta_env, "responses", "import", "--shop", "tunde", str(own))
        time.sleep(1.1)
        assert tunde.say("thanks") == "Tunde dey grateful o!"
        assert "Tunde" not in kemi.say("thank you")

        # Sent two hours ago, before an outage: skipped, and one apology in the shop's tone.
        missed = kemi.send(wa_text("are you open?", sender=BUYER, age=2 * 3600))
        [apology] = default_variants("utter_missed_messages", "professional")
        assert [body_text(reply["body"]) for reply in missed] == [apology["text"]]
    finally:
        assistant.stop()
