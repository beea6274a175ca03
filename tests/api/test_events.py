"""Events to the shop's system: POSTed by the API process's worker to a receiver on loopback that
fails twice and then succeeds, each delivery signed (checked by the receiver with the README's
function and a tolerance) and recorded, readable through the API; delivered once."""

from __future__ import annotations

import json
import time

import pytest

from bot.api.signatures import sign, verify
from tests.api.conftest import Api
from tests.helpers.receiver import Receiver, readme_verifier
from tests.helpers.waiting import eventually

ORDER = {"buyer": {"phone": "0803 123 4567"}, "amount_kobo": 2500000, "description": "Ankara"}


def test_an_event_is_retried_until_delivered_and_delivered_once(api: Api, key: str) -> None:
    secret: dict[str, str] = {}
    with Receiver(lambda: secret.get("value"), plan=[500, 503]) as receiver:
        hook = api.call("PUT", "/webhook", key, json={"url": receiver.url}).json()
        secret["value"] = hook["secret"]
        order = api.call("POST", "/orders", key, json=ORDER).json()

        def delivered() -> dict | None:
            (event,) = api.call("GET", "/events", key, params={"type": "order.created"}).json()[
                "data"
            ]
            return event if event["state"] == "done" else None

        event = eventually(delivered, what="the event's delivery")
        # Once the next event is delivered too, a second delivery of the first would be seen.
        api.call(
            "POST",
            f"/orders/{order['id']}/status",
            key,
            json={"status": "cancelled", "reason": "x"},
        )
        eventually(lambda: len(receiver.received) == 4, what="the next event's delivery")
        attempts = receiver.received[:3]
        assert json.loads(receiver.received[3].body)["type"] == "order.cancelled"

    assert [a.status for a in attempts] == [500, 503, 200]
    assert all(a.signed for a in attempts), "every delivery carries a valid signature"
    payloads = [json.loads(a.body) for a in attempts]
    assert {p["id"] for p in payloads} == {event["id"]}
    assert payloads[0]["type"] == "order.created" and payloads[0]["data"]["order"] == order
    assert attempts[0].headers["Content-Type"] == "application/json"

    detail = api.call("GET", f"/events/{event['id']}", key).json()
    deliveries = detail["deliveries"]
    assert [(d["status_code"], d["succeeded"]) for d in deliveries] == [
        (500, False),
        (503, False),
        (200, True),
    ]
    assert {d["url"] for d in deliveries} == {receiver.url}
    assert detail["state"] == "done" and detail["delivered_at"] and detail["attempts"] == 3


def test_status_changes_are_events_of_their_own(api: Api, key: str) -> None:
    with Receiver(lambda: None, plan=[]) as receiver:
        api.call("PUT", "/webhook", key, json={"url": receiver.url})
        order = api.call("POST", "/orders", key, json=ORDER).json()
        api.call(
            "POST",
            f"/orders/{order['id']}/status",
            key,
            json={"status": "cancelled", "reason": "buyer asked on the phone"},
        )
        types = eventually(
            lambda: (
                sorted(json.loads(body)["type"] for body in receiver.bodies())
                if len(receiver.received) >= 2
                else None
            )
        )
    assert types == ["order.cancelled", "order.created"]
    cancelled = next(
        json.loads(b) for b in receiver.bodies() if json.loads(b)["type"] == "order.cancelled"
    )
    assert cancelled["data"]["previous_status"] == "pending"
    assert cancelled["data"]["changed_by"] == "shop"
    assert cancelled["data"]["order"]["cancel_reason"] == "buyer asked on the phone"


def test_without_a_webhook_events_are_kept_as_skipped(api: Api, key: str) -> None:
    api.call("POST", "/orders", key, json=ORDER)
    (event,) = api.call("GET", "/events", key).json()["data"]
    assert (event["state"], event["last_error"]) == ("skipped", "no webhook configured")


@pytest.mark.parametrize("verifier", [verify, readme_verifier()], ids=["bot", "readme"])
def test_a_signature_holds_only_for_its_body_secret_and_time(verifier: object) -> None:
    body = b'{"id":"evt_1","type":"order.created"}'
    now = int(time.time())
    header = sign("whsec_right", body, now)
    assert verifier("whsec_right", header, body)
    assert not verifier("whsec_wrong", header, body)
    assert not verifier("whsec_right", header, body + b" ")
    assert not verifier("whsec_right", sign("whsec_right", body, now - 301), body)
    assert not verifier("whsec_right", header.replace("t=", "t=1"), body)
    for broken in ("", "t=abc,v1=00", "v1=" + "0" * 64, header.split(",")[0]):
        assert not verifier("whsec_right", broken, body)
