"""The connect channel's access log: the queries of the start route (the signed connect link)
and of the callback (Meta's code and the signed state) are never shown. The connection itself is
tested in tests/bot/meta/test_oauth.py."""

from __future__ import annotations

import logging

import pytest

from connectors.pages import HideQuery


@pytest.mark.parametrize(
    "route", ["callback?code=abc&state=eyJx", "start?link=eyJhbGciOiJIUzI1NiJ9.eyJ4Ijox.c2ln"]
)
def test_the_access_log_shows_the_connect_routes_without_their_query(route: str) -> None:
    path = route.split("?")[0]
    record = logging.makeLogRecord(
        {"request": f"GET http://127.0.0.1:5005/webhooks/connect/{route}"}
    )
    assert HideQuery(f"/webhooks/connect/{path}").filter(record)
    assert record.request == f"GET http://127.0.0.1:5005/webhooks/connect/{path}?[redacted]"


def test_other_routes_keep_their_query() -> None:
    other = logging.makeLogRecord({"request": "GET http://127.0.0.1:5005/status?x=1"})
    assert HideQuery("/webhooks/connect/callback").filter(other)
    assert other.request == "GET http://127.0.0.1:5005/status?x=1"
