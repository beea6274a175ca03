"""Shop owners' settings and own responses: whatever is wrong in them is refused, all of it at
once and changing nothing, and an exported file reimports to no responses of the shop's own.

The shops and their settings are rows in the real SQLite file.
"""

from __future__ import annotations

import pytest

from bot.platform import db
from bot.platform.models import Shop
from bot.shop import profile as shop_profile
from tests.conftest import make_shop
from tests.helpers.profiles import import_responses, set_up


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
