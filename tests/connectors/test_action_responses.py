"""Action server responses are checked with a validator built once, exactly as Rasa checks them."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

import connectors.nlg  # noqa: F401  (installs the validator, as the Rasa server's imports do)
from connectors.action_responses import validate_action_result

RESPONSES = [
    {},
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "order_id", "value": "ORD-7F3K9Q"}]},
    {"events": [{"event": "followup", "name": "address_form"}]},
    {"events": [{"event": "active_loop", "name": None}, {"event": "reset_slots"}]},
    {"events": [{"event": "bot", "text": "hi", "data": {}}], "responses": [{"text": "hi"}]},
    {"events": "slot"},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": "slot", "value": 1}]},
    {"events": [{"name": "order_id"}]},
    {"responses": "hello"},
    {"responses": ["hello"]},
    [],
]


def rasa_verdict(result: Any) -> str | None:
    """What Rasa's own check (jsonschema.validate on every call) says of a response."""
    try:
        jsonschema.validate(result, RemoteAction.action_response_format_spec())
    except jsonschema.ValidationError as error:
        return error.message
    return None


def test_rasa_checks_action_responses_with_the_validator_built_once() -> None:
    assert RemoteAction._validate_action_result is validate_action_result


@pytest.mark.parametrize("result", RESPONSES, ids=[json.dumps(r)[:40] for r in RESPONSES])
def test_accepts_and_refuses_exactly_what_rasa_does(result: Any) -> None:
    expected = rasa_verdict(result)
    if expected is None:
        assert validate_action_result(RemoteAction, result) is True
        return
    with pytest.raises(jsonschema.ValidationError) as refused:
        validate_action_result(RemoteAction, result)
    assert refused.value.message.startswith(expected)
    assert "Failed to validate Action server response from API" in refused.value.message


def test_the_cases_include_both_verdicts() -> None:
    verdicts = {rasa_verdict(result) is None for result in RESPONSES}
    assert verdicts == {True, False}


@pytest.fixture
def action_server() -> Iterator[dict[str, Any]]:
    """A loopback server answering every action call with ``answer["body"]``."""
    answer: dict[str, Any] = {"body": {}}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(answer["body"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answer["url"] = f"http://127.0.0.1:{server.server_address[1]}/webhook"
    yield answer
    server.shutdown()
    server.server_close()


def run_remote_action(url: str) -> Any:
    action = RemoteAction("action_check_order", EndpointConfig(url))
    return asyncio.run(
        action.run(
            CollectingOutputChannel(),
            TemplatedNaturalLanguageGenerator({}),
            DialogueStateTracker("buyer", []),
            Domain.empty(),
        )
    )


def test_a_remote_action_takes_a_valid_response(action_server: dict[str, Any]) -> None:
    action_server["body"] = {"events": [{"event": "slot", "name": "order_id", "value": "X1"}]}
    assert run_remote_action(action_server["url"]) == [SlotSet("order_id", "X1")]


def test_a_remote_action_refuses_an_invalid_response(action_server: dict[str, Any]) -> None:
    action_server["body"] = {"events": [{"event": "no_such_event"}]}
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server"):
        run_remote_action(action_server["url"])
