"""The shop over HTTP: its settings and responses (checked as ``shop settings`` and
``responses import`` check them: a bad body changes nothing), its webhook, its buyers and its
audit trail."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

ORDER = {"buyer": {"phone": "0803 123 4567"}, "amount_kobo": 2500000, "description": "Ankara"}


def test_settings_change_only_where_asked(api: Api, shop: str, key: str) -> None:
    before = api.call("GET", "/settings", key).json()
    assert before["tone"] == "friendly" and before["owner_whatsapp"] == []
    change = {
        "tone": "professional",
        "features": {"address_collection": True},
        "owner_whatsapp": ["0803 123 4567", "+234 812 000 1111", "08031234567"],
        "notice_templates": {
            "order_shipped": {"name": "order_on_its_way", "parameters": ["order_id", "amount"]}
        },
    }
    after = api.call("PATCH", "/settings", key, json=change)
    assert after.status_code == 200, after.text
    settings = after.json()
    assert settings["tone"] == "professional"
    assert settings["features"]["address_collection"] is True
    assert settings["features"]["order_tracking"] is True
    assert settings["owner_whatsapp"] == ["+2348031234567", "+2348120001111"]
    assert settings["notice_templates"] == {
        "order_shipped": {
            "name": "order_on_its_way",
            "language": "en",
            "parameters": ["order_id", "amount"],
        }
    }
    assert settings["welcome"] == before["welcome"]
    removed = api.call(
        "PATCH", "/settings", key, json={"notice_templates": {"order_shipped": None}}
    )
    assert removed.json()["notice_templates"] == {}
    assert api.call("GET", "/settings", key).json() == removed.json()


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"tone": "sarcastic"}, "tone"),
        ({"welcome": "Hi {customer_name}"}, "customer_name"),
        ({"owner_whatsapp": ["0803 123"]}, "owner number '0803 123'"),
        ({"features": {"order_tracking": "yes"}}, "order_tracking"),
        ({"features": {"teleportation": True}}, "teleportation"),
        ({"code_template": {"name": "Has Spaces"}}, "template name"),
        (
            {"notice_templates": {"order_created": {"name": "ok", "parameters": ["secret"]}}},
            "parameters",
        ),
        ({"notice_templates": {"order_lost": {"name": "ok"}}}, "order_lost"),
    ],
)
def test_a_bad_settings_change_is_a_422_that_changes_nothing(
    api: Api, shop: str, key: str, change: dict, said: str
) -> None:
    before = api.call("GET", "/settings", key).json()
    answer = api.call("PATCH", "/settings", key, json={"tone": "casual", **change})
    assert answer.status_code == 422, answer.text
    assert said in answer.text
    assert api.call("GET", "/settings", key).json() == before


def test_responses_are_read_and_replaced_as_with_the_cli(api: Api, shop: str, key: str) -> None:
    document = api.call("GET", "/responses", key).json()
    assert "utter_thanks" in document["responses"]
    document["responses"]["utter_thanks"] = [{"text": "E se, {buyer_name}!"}]
    saved = api.call("PUT", "/responses", key, json=document)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"own_responses": ["utter_thanks"]}
    assert api.call("GET", "/responses", key).json()["responses"]["utter_thanks"] == [
        {"text": "E se, {buyer_name}!"}
    ]


def test_responses_with_any_problem_are_refused_whole(api: Api, shop: str, key: str) -> None:
    before = api.call("GET", "/responses", key).json()
    bad = {
        "responses": {
            "utter_thanks": [{"text": "Thanks, {customer_name}"}],
            "utter_nonexistent": [{"text": "hi"}],
            "utter_goodbye": [{"text": "Bye", "buttons": [{"title": "Again"}]}],
        }
    }
    answer = api.call("PUT", "/responses", key, json=bad)
    assert answer.status_code == 422
    problems = [p["problem"] for p in answer.json()["problems"]]
    assert any("customer_name" in p for p in problems)
    assert any(p == "utter_nonexistent: not a response of the domain" for p in problems)
    assert any("button needs a title and a payload" in p for p in problems)
    assert api.call("GET", "/responses", key).json() == before


def test_the_webhook_secret_is_shown_only_when_made(api: Api, shop: str, key: str) -> None:
    assert api.call("GET", "/webhook", key).status_code == 404
    made = api.call("PUT", "/webhook", key, json={"url": "https://shop.example/hooks"}).json()
    assert made["url"] == "https://shop.example/hooks" and made["secret"].startswith("whsec_")
    read = api.call("GET", "/webhook", key).json()
    assert read["secret"] is None and read["url"] == made["url"]
    moved = api.call("PUT", "/webhook", key, json={"url": "https://shop.example/v2"}).json()
    assert moved["secret"] is None
    rotated = api.call(
        "PUT", "/webhook", key, json={"url": "https://shop.example/v2", "rotate_secret": True}
    ).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]
    assert api.call("DELETE", "/webhook", key).status_code == 204
    assert api.call("DELETE", "/webhook", key).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example/hooks",
        "ftp://shop.example/hooks",
        "https://user:pass@shop.example/hooks",
        "https:///no-host",
        "shop.example/hooks",
        "https://shop.example:99999/",
    ],
)
def test_a_webhook_must_be_https_or_this_machine(api: Api, key: str, url: str) -> None:
    answer = api.call("PUT", "/webhook", key, json={"url": url})
    assert answer.status_code == 422 and answer.json()["problems"][0]["field"] == "url"
    assert api.call("GET", "/webhook", key).status_code == 404


def test_buyers_are_listed_and_found_by_phone(api: Api, shop: str, key: str) -> None:
    order = api.call("POST", "/orders", key, json=ORDER).json()
    api.call("POST", "/orders", key, json={**ORDER, "buyer": {"phone": "0812 000 1111"}})
    everyone = api.call("GET", "/buyers", key).json()["data"]
    assert len(everyone) == 2
    (found,) = api.call("GET", "/buyers", key, params={"phone": "2348031234567"}).json()["data"]
    assert found["id"] == order["buyer"]["id"] and found["phone"] == "+2348031234567"
    assert (found["verified"], found["phone_verified"], found["accounts"]) == (False, False, [])
    assert api.call("GET", "/buyers", key, params={"phone": "not a phone"}).json()["data"] == []
    assert api.call("GET", "/buyers/abc", key).status_code == 404
    assert api.call("GET", "/buyers/99999999999999", key).status_code == 404


def test_the_audit_trail_masks_buyers(api: Api, shop: str, key: str) -> None:
    order = api.call("POST", "/orders", key, json=ORDER).json()
    (entry, *_) = api.call("GET", "/audit", key).json()["data"]
    assert entry["action"] == "order.created" and entry["buyer"] == "***4567"
    assert entry["detail"]["order_id"] == order["id"]
    assert "8031234567" not in api.call("GET", "/audit", key).text
