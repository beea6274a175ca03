"""Shop owners in control of what the assistant says: their tone, welcome, contact line and own
wording.

The response generator runs here exactly as inside the Rasa server, on the real domain; the
shops and their settings are rows in the real SQLite file.
"""

from __future__ import annotations

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from bot.platform.settings import PROJECT_ROOT
from bot.shop import profile as shop_profile
from connectors.nlg import ShopProfiles, ShopResponseGenerator
from tests.helpers.profiles import import_responses, set_up

DOMAIN = Domain.load(str(PROJECT_ROOT / "domain.yml"))


def generator() -> ShopResponseGenerator:
    nlg = ShopResponseGenerator(domain=DOMAIN)
    nlg.profiles = ShopProfiles(ttl=0)
    return nlg


async def say(nlg, shop_id: str, response: str, channel: str = "whatsapp", **kwargs) -> str:
    tracker = DialogueStateTracker.from_events(
        f"{shop_id}:whatsapp:2348012345678",
        [SlotSet("shop_id", shop_id), SlotSet("buyer_name", "Ada")],
        slots=DOMAIN.slots,
    )
    generated = await nlg.generate(response, tracker, channel, **kwargs)
    return generated["text"]


async def test_two_shops_speak_in_their_own_tone_and_welcome() -> None:
    set_up("kemi", "Kemi's Closet", tone="professional")
    set_up(
        "tunde", "Tunde Gadgets", tone="casual", welcome="Hey {buyer_name}! {shop_name} don land."
    )
    nlg = generator()

    def variants(name: str, tone: str) -> str:
        return shop_profile.default_variants(name, tone)[0]["text"]

    kemi = await say(nlg, "kemi", "utter_help")
    tunde = await say(nlg, "tunde", "utter_help")
    assert kemi == variants("utter_help", "professional").format(shop_name="Kemi's Closet")
    assert tunde == variants("utter_help", "casual").format(shop_name="Tunde Gadgets")
    assert kemi != tunde

    welcome = await say(nlg, "tunde", "utter_welcome_back")
    assert welcome.startswith("Hey Ada! Tunde Gadgets don land.")
    assert (await say(nlg, "kemi", "utter_welcome_back")).startswith("Welcome to Kemi's Closet!")


async def test_an_override_applies_on_the_next_message_to_that_shop_only() -> None:
    set_up("kemi", "Kemi's Closet")
    set_up("tunde", "Tunde Gadgets")
    nlg = generator()
    before = await say(nlg, "kemi", "utter_thanks")

    own = import_responses(
        "kemi",
        {
            "responses": {
                "utter_thanks": [
                    {"text": "Thank you, {buyer_name}! Kemi loves you."},
                    {"text": "Thank you on Instagram, {buyer_name}!", "channel": "instagram"},
                ]
            }
        },
    )
    assert own == ["utter_thanks"]
    assert await say(nlg, "kemi", "utter_thanks") == "Thank you, Ada! Kemi loves you."
    assert await say(nlg, "kemi", "utter_thanks", "instagram") == "Thank you on Instagram, Ada!"
    assert await say(nlg, "tunde", "utter_thanks") == before.replace(
        "Kemi's Closet", "Tunde Gadgets"
    )


async def test_the_shop_values_fill_every_response() -> None:
    set_up("kemi", "Kemi's Closet", contact_line="Call Kemi on 0803 123 4567.")
    text = await say(
        nlg := generator(), "kemi", "utter_feature_unavailable", feature_name="order tracking"
    )
    assert "Kemi's Closet" in text and "order tracking" in text and "Call Kemi on" in text
    assert "{" not in await say(nlg, "kemi", "utter_welcome_new", code="K7#M@P2Q", minutes=5)
