"""Shop owners in control: their tone, welcome, contact line, features and own wording.

The response generator runs here exactly as inside the Rasa server, on the real domain; the
shops and their settings are rows in the real SQLite file.
"""

from __future__ import annotations

import pytest
import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from actions.address import ValidateAddressForm
from actions.confirmation import ActionConfirmOrder
from actions.status import ActionOrderStatus
from bot.platform import db
from bot.platform.models import Order, Shop
from bot.platform.settings import PROJECT_ROOT
from bot.shop import profile as shop_profile
from connectors.nlg import ShopProfiles, ShopResponseGenerator
from tests.actions.helpers import responses, run_action
from tests.actions.test_orders import make_order
from tests.conftest import make_buyer, make_shop, tracker_for

DOMAIN = Domain.load(str(PROJECT_ROOT / "domain.yml"))


def set_up(shop_id: str, name: str, **settings) -> None:
    make_shop(shop_id, name)
    with db.session_scope() as session:
        shop_profile.update_settings(session.get(Shop, shop_id), **settings)


def import_responses(shop_id: str, document: dict) -> list:
    with db.session_scope() as session:
        return shop_profile.import_responses(
            session, session.get(Shop, shop_id), yaml.safe_dump(document, sort_keys=False)
        )


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


def test_a_bad_responses_file_is_refused_with_every_problem_and_changes_nothing() -> None:
    set_up("kemi", "Kemi's Closet")
    import_responses("kemi", {"responses": {"utter_goodbye": [{"text": "Bye from Kemi"}]}})
    bad = {
        "responses": {
            "utter_thanks": [{"text": "Thanks {customer_name}"}],
            "utter_goodbye": [{"text": "Bye {buyer_name}", "channel": "telegram"}],
            "utter_unknown": [{"text": "hi"}],
            "utter_help": [{"text": "Help", "buttons": [{"title": "Go"}]}],
        }
    }
    with pytest.raises(shop_profile.ProfileError) as refused:
        import_responses("kemi", bad)
    assert str(refused.value).splitlines() == [
        "utter_thanks, variant 1: unknown placeholder(s) {customer_name}; "
        "allowed here: {buyer_name}, {contact_line}, {shop_name}, {welcome}",
        "utter_goodbye, variant 1: channel must be one of whatsapp, instagram, rest",
        "utter_unknown: not a response of the domain",
        "utter_help, variant 1: every button needs a title and a payload",
    ]
    with db.session_scope() as session:
        profile = shop_profile.load_profile(session, session.get(Shop, "kemi"))
    assert profile.responses == {"utter_goodbye": [{"text": "Bye from Kemi"}]}


def test_an_exported_file_reimports_to_no_own_responses() -> None:
    set_up("kemi", "Kemi's Closet", tone="casual")
    with db.session_scope() as session:
        shop = session.get(Shop, "kemi")
        exported = shop_profile.export_responses(shop_profile.load_profile(session, shop))
        assert shop_profile.import_responses(session, shop, exported) == []


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"tone": "rude"}, "tone must be one of"),
        ({"welcome": "Hi {customer}"}, "unknown placeholder(s) {customer}"),
        ({"enable": ["free_delivery"]}, "unknown feature 'free_delivery'"),
        ({"enable": ["order_tracking"], "disable": ["order_tracking"]}, "enabled and disabled"),
    ],
)
def test_bad_settings_are_refused_when_saved(settings: dict, problem: str) -> None:
    make_shop("kemi", "Kemi's Closet")
    with db.session_scope() as session:
        shop = session.get(Shop, "kemi")
        with pytest.raises(
            shop_profile.ProfileError, match=problem.replace("(", r"\(").replace(")", r"\)")
        ):
            shop_profile.update_settings(shop, **settings)
        assert shop.settings == {}


async def test_a_disabled_feature_is_answered_clearly(ada_at_kemi: str) -> None:
    order_id = make_order("kemi", ada_at_kemi)
    with db.session_scope() as session:
        shop_profile.update_settings(session.get(Shop, "kemi"), disable=["order_tracking"])
    messages, _ = await run_action(
        ActionOrderStatus(),
        tracker_for(ada_at_kemi, "x", shop="kemi", entities={"order_id": order_id}),
    )
    assert responses(messages) == ["utter_feature_unavailable"]
    assert messages[0]["feature_name"] == "order tracking"


@pytest.fixture
def ada_at_kemi() -> str:
    make_shop("kemi", "Kemi's Closet")
    make_buyer("kemi", "ada", verified=True)
    return "ada"


async def test_address_collection_asks_for_an_address_then_confirms_with_it(
    ada_at_kemi: str,
) -> None:
    order_id = make_order("kemi", ada_at_kemi)
    with db.session_scope() as session:
        shop_profile.update_settings(session.get(Shop, "kemi"), enable=["address_collection"])
    messages, events = await run_action(
        ActionConfirmOrder(), tracker_for(ada_at_kemi, "confirm", shop="kemi")
    )
    assert responses(messages) == ["utter_address_needed"]
    assert {"event": "followup", "name": "address_form", "timestamp": None} in events
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["confirming_order_id"] == order_id
    with db.session_scope() as session:
        assert session.get(Order, order_id).status == "pending"

    filled = {
        "confirming_order_id": order_id,
        "address_street": "12 Allen Avenue",
        "address_city": "Ikeja",
        "address_state": "Lagos",
        "address_phone": "+2348031234567",
    }
    messages, events = await run_action(
        ActionConfirmOrder(), tracker_for(ada_at_kemi, "0803 123 4567", shop="kemi", slots=filled)
    )
    assert responses(messages) == ["utter_order_confirmed_delivery"]
    assert messages[0]["address"] == "12 Allen Avenue, Ikeja, Lagos (+2348031234567)"
    with db.session_scope() as session:
        order = session.get(Order, order_id)
        assert order.status == "confirmed"
        assert order.delivery_address["state"] == "Lagos"
    assert all(e["value"] is None for e in events if e["event"] == "slot")


@pytest.mark.parametrize(
    ("slot", "typed", "kept"),
    [
        ("address_street", "12 Allen Avenue", "12 Allen Avenue"),
        ("address_street", "no", None),
        ("address_city", "ikeja", "Ikeja"),
        ("address_city", "12345", None),
        ("address_state", "lagos state", "Lagos"),
        ("address_state", "Abuja", "FCT"),
        ("address_state", "London", None),
        ("address_phone", "0803 123 4567", "+2348031234567"),
        ("address_phone", "+234 (0)803", None),
    ],
)
async def test_the_address_form_checks_each_answer(slot: str, typed: str, kept) -> None:
    form = ValidateAddressForm()
    tracker = tracker_for("ada", typed, slots={slot: typed, "requested_slot": slot})
    tracker.active_loop = {"name": "address_form"}
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    validate = getattr(form, f"validate_{slot}")
    assert validate(typed, dispatcher, tracker, {}) == {slot: kept}
    assert [m["response"] for m in dispatcher.messages] == (
        [] if kept else [f"utter_invalid_{slot}"]
    )
