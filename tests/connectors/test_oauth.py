"""The connect channel's access log: the callback's query, which carries Meta's code and the
signed state, is never shown. The connection itself is tested in tests/bot/meta/test_oauth.py."""

from __future__ import annotations

import logging

from connectors.oauth import HideCallbackQuery


def test_the_access_log_shows_the_callback_without_its_query() -> None:
    record = logging.makeLogRecord(
        {"request": "GET http://127.0.0.1:5005/webhooks/connect/callback?code=abc&state=eyJx"}
    )
    other = logging.makeLogRecord({"request": "GET http://127.0.0.1:5005/webhooks/rest/?x=1"})
    assert HideCallbackQuery().filter(record) and HideCallbackQuery().filter(other)
    assert record.request == "GET http://127.0.0.1:5005/webhooks/connect/callback?[redacted]"
    assert other.request == "GET http://127.0.0.1:5005/webhooks/rest/?x=1"
