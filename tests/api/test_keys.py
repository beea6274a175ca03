"""Keys over HTTP: none, a wrong one, a revoked one, another shop's; the rate limit; and the
OpenAPI document, which needs no key."""

from __future__ import annotations

import pytest

from bot.platform import db
from bot.shop import api_keys
from tests.api.conftest import Api, new_key, new_shop, start_api, stop_api

ORDER = {"buyer": {"phone": "0803 123 4567"}, "amount_kobo": 2500000, "description": "Ankara"}


def test_the_openapi_document_is_served_without_a_key(api: Api) -> None:
    answer = api.call("GET", "/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/orders", "/api/v1/orders/{order_id}/status"} <= set(document["paths"])


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer tgk_not-a-key", "tgk_abc"],
)
def test_no_valid_key_is_a_401_that_changes_nothing(
    api: Api, shop: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    created = api.call("POST", "/orders", json=ORDER, headers=headers)
    listed = api.call("GET", "/orders", headers=headers)
    for answer in (created, listed):
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.call("GET", "/orders", new_key(shop)).json()["data"] == []


def test_a_revoked_key_is_refused_from_then_on(api: Api, shop: str, key: str) -> None:
    assert api.call("GET", "/orders", key).status_code == 200
    with db.session_scope() as session:
        (row,) = api_keys.list_keys(session, shop)
        api_keys.revoke_key(session, shop, row.id)
    answer = api.call("GET", "/orders", key)
    assert answer.status_code == 401
    assert answer.json()["message"] == "This API key is not valid or was revoked."


def test_a_key_sees_only_its_own_shop(api: Api, shop: str, key: str) -> None:
    other = new_shop("Iya Basket")
    other_key = new_key(other)
    order = api.call("POST", "/orders", key, json=ORDER).json()
    buyer_id = order["buyer"]["id"]

    # Another shop's order, buyer and order actions are as missing as ones that never existed.
    for path in (
        f"/orders/{order['id']}",
        f"/orders/{order['id']}/receipts",
        f"/buyers/{buyer_id}",
    ):
        theirs, missing = (
            api.call("GET", path, other_key),
            api.call("GET", "/orders/ORD-000000", key),
        )
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["code"] == missing.json()["code"] == "not_found"
    moved = api.call("POST", f"/orders/{order['id']}/status", other_key, json={"status": "shipped"})
    assert moved.status_code == 404
    assert api.call("GET", "/orders", other_key).json()["data"] == []
    assert api.call("GET", "/buyers", other_key).json()["data"] == []
    assert api.call("GET", "/audit", other_key).json()["data"] == []
    # Nor can it make an order for this shop's buyer.
    stolen = api.call("POST", "/orders", other_key, json={**ORDER, "buyer": {"buyer_id": buyer_id}})
    assert stolen.status_code == 422
    assert api.call("GET", f"/orders/{order['id']}", key).json()["status"] == "pending"


def test_each_key_is_limited_and_told_when_to_retry(
    api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    limited = start_api(
        {**api_env, "API_RATE_LIMIT": "3"}, tmp_path_factory.mktemp("limited") / "api.log"
    )
    try:
        shop = new_shop()
        key, other_key = new_key(shop), new_key(shop, "spreadsheet")
        answers = [limited.call("GET", "/orders", key) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["code"] == "rate_limited"
        assert 1 <= int(answers[-1].headers["Retry-After"]) <= 20
        # The limit is each key's own.
        assert limited.call("GET", "/orders", other_key).status_code == 200
    finally:
        stop_api(limited)
