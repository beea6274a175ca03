"""Fuzzing the webhook routes: hypothesis posts thousands of correctly signed bodies (Meta's real
payloads mutated, free-form JSON, bytes that are not JSON) to the real WhatsApp and Instagram
routes, served by Sanic on loopback as the Rasa server serves them.

For every body: the answer is 200 or a 4xx, never a 5xx; nothing is logged at ERROR or with a
traceback, and no thread dies; only a buyer's message reaches Rasa, each one the parser reads
(for a shop's account, not stale) gets exactly one turn, and replies go only to its sender.
"""

from __future__ import annotations

import collections
import http.client
import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.core.channels.channel import UserMessage

from bot.meta import inbox
from bot.meta.signature import signature_header
from bot.meta.webhooks import InboundMessage, parse_instagram, parse_whatsapp
from bot.platform import db
from bot.platform.models import AuditEvent, Buyer, BuyerIdentity, InboxMessage, Receipt
from bot.platform.settings import get_settings
from connectors.instagram import InstagramInput
from connectors.whatsapp import WhatsAppInput
from devtools.graph_double import GraphDoubleThread
from devtools.graph_double.messaging import recipient_of
from tests.connectors.meta.conftest import SHOP_OF_ACCOUNT
from tests.helpers.channels import RasaStandIn, ServedApp, app_for, wait_until_answered
from tests.helpers.fuzzing import bodies, instagram_payloads, whatsapp_payloads
from tests.helpers.meta import APP_SECRET, BUYER, PHONE_NUMBER_ID

# Per channel: 10,000 bodies in all.
EXAMPLES = 5_000
JPEG = b"\xff\xd8\xff\xe0" + b"receipt-bytes" * 50
MEDIA_ID = "1479550000000001"
OUR_MESSAGE_IDS = ["wamid.OURS-1", "wamid.OURS-2"]
Key = tuple[str, str, str]


def _items(container: Any, key: str) -> list[dict[str, Any]]:
    items = container.get(key) if isinstance(container, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _field(container: Any, *path: str) -> Any:
    for key in path:
        container = container.get(key) if isinstance(container, dict) else None
    return container


def _key(account: Any, sender: Any, message_id: Any) -> set[Key]:
    parts = (account, sender, message_id)
    return {parts} if all(isinstance(part, str) for part in parts) else set()


def _whatsapp_items(document: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(receiving number, item) of every item of ``value.messages`` of a ``messages`` change."""
    if _field(document, "object") != "whatsapp_business_account":
        return
    for entry in _items(document, "entry"):
        for change in _items(entry, "changes"):
            value = change.get("value") if change.get("field") == "messages" else None
            account = _field(value, "metadata", "phone_number_id")
            for item in _items(value, "messages"):
                yield account, item


def whatsapp_buyer_messages(document: Any) -> set[Key]:
    """A buyer's WhatsApp message is an item of ``value.messages`` of a ``messages`` change, as
    (receiving number, sender, message id) for each id the sender is known by (``from``, the
    number, and ``from_user_id``, the business-scoped user id), except WhatsApp's notices about
    the buyer (``system``: a changed number or user id), deletions (``revoke``) and edits of a
    message already answered (``edit``). Statuses are about our messages."""
    found: set[Key] = set()
    for account, item in _whatsapp_items(document):
        if item.get("type") not in ("system", "revoke", "edit"):
            for sender in (item.get("from"), item.get("from_user_id")):
                found |= _key(account, sender, item.get("id"))
    return found


def whatsapp_new_addresses(document: Any) -> set[tuple[str, str]]:
    """(receiving number, id) of the number and user id a ``system`` notice moves a buyer to:
    a reply to the buyer's earlier message may rightly go there."""
    found: set[tuple[str, str]] = set()
    for account, item in _whatsapp_items(document):
        if item.get("type") == "system":
            for new in (_field(item, "system", "wa_id"), _field(item, "system", "user_id")):
                if isinstance(account, str) and isinstance(new, str):
                    found.add((account, new))
    return found


def instagram_buyer_messages(document: Any) -> set[Key]:
    """A buyer's Instagram message is a ``messaging`` event with a ``postback`` (a tapped button)
    or a ``message`` that is neither the shop's own send echoed nor a deletion, as (receiving
    account: the recipient or the entry, sender, message id); never a read, seen, delivery or
    reaction event."""
    found: set[Key] = set()
    if _field(document, "object") != "instagram":
        return found
    for entry in _items(document, "entry"):
        for event in _items(entry, "messaging"):
            if any(key in event for key in ("read", "messaging_seen", "delivery", "reaction")):
                continue
            message = event.get("postback") if "postback" in event else event.get("message")
            if not isinstance(message, dict) or message.get("is_echo") or message.get("is_deleted"):
                continue
            sender = _field(event, "sender", "id")
            for account in (_field(event, "recipient", "id"), entry.get("id")):
                found |= _key(account, sender, message.get("mid"))
    return found


@dataclass(frozen=True)
class Route:
    """A channel's webhook route and what the fuzzer needs to know of its platform."""

    channel: str
    input_class: type
    parse: Callable[[Any], tuple[list[InboundMessage], list[Any]]]
    buyer_messages: Callable[[Any], set[Key]]
    new_addresses: Callable[[Any], set[tuple[str, str]]]
    platform_object: str
    payloads: Callable[[str], st.SearchStrategy[Any]]  # given the Graph API double's url

    @property
    def url(self) -> str:
        return f"/webhooks/{self.channel}/webhook"


WHATSAPP = Route(
    "whatsapp",
    WhatsAppInput,
    parse_whatsapp,
    whatsapp_buyer_messages,
    whatsapp_new_addresses,
    "whatsapp_business_account",
    lambda _: whatsapp_payloads(MEDIA_ID, OUR_MESSAGE_IDS),
)
INSTAGRAM = Route(
    "instagram",
    InstagramInput,
    parse_instagram,
    instagram_buyer_messages,
    lambda _: set(),
    "instagram",
    lambda graph_url: instagram_payloads(f"{graph_url}/__files/{MEDIA_ID}"),
)


class BriefRasa(RasaStandIn):
    """Answers every message with one short text, as the assistant's responses are: a buyer's
    10,000-character text costs one send, not forty echoed back."""

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, "got it")


class FailureLog(logging.Handler):
    """Every record that shows a failure: ERROR and above, or any record with a traceback."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


class Fuzzer:
    """Posts signed bodies to one route and checks what became of each."""

    def __init__(
        self, route: Route, served: ServedApp, rasa: RasaStandIn, graph: GraphDoubleThread
    ) -> None:
        self.route = route
        self.served = served
        self.rasa = rasa
        self.graph = graph
        self.handler = FailureLog()
        self.died: list[str] = []
        self.examples = 0
        self.stored = False  # whether the inbox may hold a row of the last body
        self.turns = 0
        self.stale_after = get_settings().inbox_stale_after_seconds

    def thread_died(self, hook: threading.ExceptHookArgs) -> None:
        self.died.append(repr(hook.exc_value))

    def check(self, body: bytes) -> None:
        """Post one body; check the answer, the logs, what reached Rasa and who got replies."""
        self._reset()
        document = _json(body)
        due, stored = self._turns_due(document)
        status = self._post(body)
        wait_until_answered()
        assert status == 200 or 400 <= status < 500, f"answered {status}"
        failed = [f"{r.name}: {r.getMessage()}" for r in self.handler.records] + self.died
        assert not failed, f"failures: {failed}"
        if stored:
            self.stored = True

        buyer_messages = self.route.buyer_messages(document)
        received = []
        for message in self.rasa.messages:
            # The conversation is named after the first id its sender was seen with in the body:
            # any of the sender's ids.
            shop, key = message.metadata["shop_id"], message.metadata["user_id"]
            assert message.sender_id == f"{shop}:{self.route.channel}:{key}"
            assert any(
                SHOP_OF_ACCOUNT.get((self.route.channel, account)) == shop
                for account, who, message_id in buyer_messages
                if message_id == message.message_id
            ), "something that is not a buyer's message reached Rasa"
            assert key in {who for _, who, _ in buyer_messages}
            received.append((shop, message.message_id))
        assert collections.Counter(received) == collections.Counter(due)
        self._check_replies(buyer_messages, self.route.new_addresses(document))
        self.examples += 1
        self.turns += len(received)

    def _turns_due(self, document: Any) -> tuple[list[tuple[str, str]], bool]:
        """One turn for each message the parser reads that is for a shop's account, is answered
        (not a notice) and is not stale (a second message with the same id is a redelivery); and
        whether any message is stored in the inbox."""
        due: dict[tuple[str, str], Key] = {}
        stored = False
        messages, _ = self.route.parse(document)
        for message in messages:
            shop = SHOP_OF_ACCOUNT.get((self.route.channel, message.account_id))
            stored = stored or shop is not None
            if shop and message.answered and message.timestamp > time.time() - self.stale_after:
                due.setdefault((message.account_id, message.message_id), (shop, message.message_id))
        return list(due.values()), stored

    def _check_replies(self, buyer_messages: set[Key], new_addresses: set[tuple[str, str]]) -> None:
        senders = {(account, sender) for account, sender, _ in buyer_messages} | new_addresses
        sends = self.graph.sent()
        for send in sends:
            assert (send["account_id"], recipient_of(send["body"])) in senders, (
                "a reply went to someone who sent no buyer's message"
            )
        assert len(sends) >= len(self.rasa.messages), "a turn went unanswered"

    def _post(self, body: bytes) -> int:
        headers = {
            "X-Hub-Signature-256": signature_header(APP_SECRET, body),
            "Content-Type": "application/json",
        }
        connection = http.client.HTTPConnection("127.0.0.1", self.served.port, timeout=30)
        try:
            connection.request("POST", self.route.url, body, headers)
            return connection.getresponse().status
        finally:
            connection.close()

    def _reset(self) -> None:
        """Each body is checked on its own: no earlier message, send or record counts."""
        self.rasa.messages.clear()
        self.graph.clear()
        self.graph.add_media(JPEG, "image/jpeg", media_id=MEDIA_ID, public=True)
        self.handler.records.clear()
        self.died.clear()
        if self.stored:
            # Who wrote before is forgotten too, so each body's senders are new to the shop.
            with db.session_scope() as session:
                for model in (InboxMessage, AuditEvent, Receipt, BuyerIdentity, Buyer):
                    session.execute(sa.delete(model))
            self.stored = False


def _json(body: bytes) -> Any:
    """What the body holds as JSON, read as json.loads reads it; None when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


@pytest.fixture
def database_url(migrated_template: Path, tmp_path: Path) -> Iterator[str]:
    """The migrated database in memory-backed files where the machine has them: the thousands
    of transactions of the inbox then wait for no disk (a real SQLite file all the same)."""
    memory = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=memory if memory.is_dir() else tmp_path) as folder:
        path = Path(folder) / "app.db"
        shutil.copy(migrated_template, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def fuzzer(
    request: pytest.FixtureRequest,
    graph: GraphDoubleThread,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Fuzzer]:
    """The route of ``request.param`` served on loopback, with two sends of ours for statuses to
    be about; failures in any thread are recorded."""
    for message_id in OUR_MESSAGE_IDS:
        inbox.record_send("mama-put", "whatsapp", PHONE_NUMBER_ID, BUYER, message_id)
    rasa = BriefRasa()
    with ServedApp(app_for(request.param.input_class, rasa)) as served:
        fuzzer = Fuzzer(request.param, served, rasa, graph)
        monkeypatch.setattr(threading, "excepthook", fuzzer.thread_died)
        logging.getLogger().addHandler(fuzzer.handler)
        try:
            yield fuzzer
        finally:
            logging.getLogger().removeHandler(fuzzer.handler)


@pytest.mark.parametrize(
    "fuzzer", [WHATSAPP, INSTAGRAM], ids=lambda route: route.channel, indirect=True
)
def test_no_signed_body_fails_the_route_or_reaches_rasa_unless_a_buyer_sent_it(
    fuzzer: Fuzzer, graph: GraphDoubleThread
) -> None:
    route = fuzzer.route

    # Reproducible in CI: the same bodies every run, and no example database on disk. Bodies are
    # large and slow to make on purpose (10,000-character strings, lists repeated 30 times).
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies(route.payloads(graph.url), route.platform_object))
    def post(body: bytes) -> None:
        fuzzer.check(body)

    post()
    assert fuzzer.examples >= EXAMPLES
    assert fuzzer.turns > EXAMPLES // 10, "too few bodies held a buyer's message"
