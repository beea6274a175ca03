"""The webhook side of a Meta channel: ``GET``/``POST /webhooks/<name>/webhook``.

A webhook is verified against the raw body, every message of the batch is written to the inbox,
and only then does Meta get its 200: quickly, because the conversation turn runs afterwards, on
the turn loop of this server or of another (``TRUSTGUARD_ROLE``: a server that only acknowledges,
``ingest``, runs no turns; one that only runs turns, ``turns``, takes no webhooks). Each message is
claimed by exactly one worker, a redelivery is dropped by the inbox's unique key, and what was
acknowledged but not processed, before a restart or by a server that died, is taken over. A
message too old to answer in context is skipped, and its buyer told once per outage that it was
missed.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.meta import inbox, whatsapp_users
from bot.meta.accounts import AccountDirectory
from bot.meta.graph import GraphClient
from bot.meta.media_hosts import MediaHosts
from bot.meta.receipts import ReceiptIntake
from bot.meta.signature import signature_is_valid
from bot.meta.typed import as_typed
from bot.meta.webhooks import (
    BUTTON,
    CONTACT,
    MEDIA,
    TEXT,
    InboundMessage,
    SharedContact,
    StatusUpdate,
)
from bot.platform import secrets
from bot.platform.db import session_scope
from bot.platform.models import Channel, InboxState, utcnow
from bot.platform.settings import Settings, get_settings
from bot.shop.shops import conversation_id
from connectors.meta.output import MetaOutput
from connectors.meta.owners import answered_owner
from connectors.meta.pruning import start_pruning, stop_pruning
from connectors.meta.server import OnNewMessage, RasaServer
from connectors.meta.turns import TURNS, run_turn

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024
# Meta takes free-form messages only within 24 hours of the buyer's last one (both platforms).
CUSTOMER_SERVICE_WINDOW = dt.timedelta(hours=24)
# The domain response to a buyer whose messages were skipped as stale.
MISSED_MESSAGES = "utter_missed_messages"


def _learn_shared_number(claimed: inbox.Claimed, contact: SharedContact) -> bool:
    with session_scope() as session:
        return whatsapp_users.learn_shared_number(session, claimed.shop_id, claimed.key, contact)


class ChannelConfigurationError(RuntimeError):
    """The channel cannot start safely; the message says what to set."""


class MetaInput(InputChannel, abc.ABC):
    """A Meta channel's routes; its turns run on the process's one turn loop."""

    channel: ClassVar[str]

    def __init__(
        self,
        app_secrets: Callable[[], list[str]],
        verify_token: str,
        graph: GraphClient,
        output: MetaOutput,
        receipts: ReceiptIntake,
        stale_after: dt.timedelta,
        retention: dt.timedelta,
    ) -> None:
        if not app_secrets():
            raise ChannelConfigurationError(
                f"The {self.name()} channel needs META_APP_SECRET: without it any webhook could be "
                "forged. Set it to your Meta app's secret (make run writes a local one into .env)."
            )
        if not verify_token:
            raise ChannelConfigurationError(
                f"The {self.name()} channel needs META_VERIFY_TOKEN, the token you enter in the "
                "Meta app's webhook settings."
            )
        self._app_secrets = app_secrets
        self._verify_token = verify_token
        self._graph = graph
        self._output = output
        self._receipts = receipts
        self._stale_after = stale_after
        self._retention = retention

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> MetaInput:
        """Secrets come from the secrets layer (read again as they rotate), never from
        credentials.yml."""
        settings = get_settings()
        graph = GraphClient(cls.graph_api_url(settings), settings.graph_api_version)
        accounts = AccountDirectory(cls.channel)
        return cls(
            app_secrets=cls.webhook_secrets,
            verify_token=settings.meta_verify_token,
            graph=graph,
            output=cls.output_class()(graph, accounts),
            receipts=ReceiptIntake(graph, accounts, MediaHosts.from_settings(settings)),
            stale_after=dt.timedelta(seconds=settings.inbox_stale_after_seconds),
            retention=dt.timedelta(days=settings.inbox_retention_days),
        )

    @classmethod
    def name(cls) -> str:
        return cls.channel

    @classmethod
    def graph_api_url(cls, settings: Settings) -> str:
        """The host of this channel's Graph API calls (sends and media)."""
        return settings.graph_api_url

    @classmethod
    def webhook_secrets(cls) -> list[str]:
        """The secrets this channel's webhooks may be signed with, read per request (rotation)."""
        return secrets.app_secrets()

    @classmethod
    @abc.abstractmethod
    def output_class(cls) -> type[MetaOutput]:
        """The MetaOutput subclass of this channel."""

    @abc.abstractmethod
    def parse(self, payload: Any) -> tuple[list[InboundMessage], list[StatusUpdate]]:
        """Typed messages and statuses of one webhook payload."""

    def get_output_channel(self) -> OutputChannel:
        return self._output

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        hook = Blueprint(f"{self.name()}_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["GET"])
        async def handshake(request: Request) -> HTTPResponse:
            mode = request.args.get("hub.mode")
            token = request.args.get("hub.verify_token") or ""
            if mode == "subscribe" and hmac.compare_digest(
                token.encode(), self._verify_token.encode()
            ):
                return response.text(request.args.get("hub.challenge") or "")
            logger.warning("webhook verification refused", extra={"channel": self.name()})
            return response.text("forbidden", status=403)

        role = get_settings().role
        if role != "turns":

            @hook.route("/webhook", methods=["POST"])
            async def receive(request: Request) -> HTTPResponse:
                return await self._receive(request)

        @hook.listener("after_server_start")
        async def start(app: Any, _loop: Any) -> None:
            start_pruning(app, self._retention)
            if role != "ingest":
                server = RasaServer(app, on_new_message)
                TURNS.serve(self.name(), lambda claimed: self._process(claimed, server))

        @hook.listener("after_server_stop")
        async def close(app: Any, _loop: Any) -> None:
            await stop_pruning(app)
            # Turns in progress finish (their replies go out) before the Graph client closes.
            await asyncio.to_thread(TURNS.stop_serving, self.name(), 60)
            await asyncio.to_thread(TURNS.run, self._graph.close(), 5)

        return hook

    async def _receive(self, request: Request) -> HTTPResponse:
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            return response.text("payload too large", status=413)
        # Read per request (from a cache), so a rotated secret applies without a restart.
        app_secrets = await asyncio.to_thread(self._app_secrets)
        if not signature_is_valid(app_secrets, body, request.headers.get("X-Hub-Signature-256")):
            logger.warning(
                "webhook with a missing or wrong signature refused", extra={"channel": self.name()}
            )
            return response.text("forbidden", status=403)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
            logger.warning(
                "signed webhook that is not JSON acknowledged", extra={"channel": self.name()}
            )
            return response.text("ok")
        messages, statuses = self.parse(payload)
        try:
            accepted = await asyncio.to_thread(inbox.store_webhook, self.name(), messages, statuses)
        except SQLAlchemyError as error:
            # Not stored, so not acknowledged: Meta delivers it again. No traceback, whose
            # parameters would be the buyer's message.
            logger.error(
                "webhook not stored; Meta will redeliver it",
                extra={"channel": self.name(), "error": type(error).__name__},
            )
            return response.text("unavailable", status=503)
        if accepted:
            # This server's own turns (other servers hear of it from the database).
            TURNS.wake()
        return response.text("ok")

    async def _process(self, claimed: inbox.Claimed, server: RasaServer) -> None:
        inbox_id = claimed.inbox_id
        log = {"channel": self.name(), "shop_id": claimed.shop_id, "inbox_id": inbox_id}
        message = claimed.message
        sender_id = conversation_id(claimed.shop_id, self.name(), claimed.key)
        if claimed.replied:
            # Taken over from a server that died after replying: the buyer has the answer, and
            # running the turn again would repeat its actions.
            logger.warning("taken over after its reply went out; not run again", extra=log)
            await asyncio.to_thread(inbox.close, inbox_id, InboxState.DONE)
            return
        if utcnow() - claimed.sent_at > self._stale_after:
            await self._skip_stale(inbox_id, sender_id, server, log)
            return
        if self.channel == Channel.WHATSAPP and await answered_owner(claimed, self._output):
            await asyncio.to_thread(inbox.close, inbox_id, InboxState.DONE)
            return
        text = await self._text_for_rasa(claimed, inbox_id)
        metadata = {
            "shop_id": claimed.shop_id,
            "channel": self.name(),
            "user_id": claimed.key,
            "user_name": message.sender_name,
        }

        def user_message(output: MetaOutput) -> UserMessage:
            return UserMessage(
                text=text,
                output_channel=output,
                sender_id=sender_id,
                input_channel=self.name(),
                message_id=message.message_id,
                metadata=metadata,
            )

        replied = await run_turn(inbox_id, sender_id, user_message, self._output, server, log)
        if replied:
            await asyncio.to_thread(inbox.close, inbox_id, InboxState.DONE)
        else:
            await asyncio.to_thread(inbox.close, inbox_id, InboxState.FAILED, "no reply")

    async def _skip_stale(
        self, inbox_id: int, sender_id: str, server: RasaServer, log: dict[str, Any]
    ) -> None:
        """A backlog after an outage is not answered out of context; its buyer is told once per
        outage, while Meta's window allows, that the messages were missed."""
        async with server.conversation_lock(sender_id):
            apology = await asyncio.to_thread(inbox.close_stale, inbox_id, CUSTOMER_SERVICE_WINDOW)
        logger.info("stale message recorded and skipped", extra={**log, "apology": apology.value})
        if apology is inbox.Apology.OWED:
            await server.say(MISSED_MESSAGES, sender_id, self._output.for_turn())

    async def _text_for_rasa(self, claimed: inbox.Claimed, inbox_id: int) -> str:
        message = claimed.message
        if message.kind == TEXT:
            # Typed text never triggers an intent directly ("/confirm_order{...}"): NLU reads it.
            return as_typed(message.text or "") or "?"
        if message.kind == BUTTON:
            return message.text or message.title or "?"
        if message.kind == MEDIA and message.media is not None:
            return await self._receipts.take(claimed.shop_id, inbox_id, message.media)
        if message.kind == CONTACT and message.contact is not None:
            shared = await asyncio.to_thread(_learn_shared_number, claimed, message.contact)
            if shared:
                # Bound by the channel from WhatsApp's word: the intent carries no number.
                return "/link_phone"
        # Stickers, voice notes, locations...: the answer says what the assistant understands.
        return "/help"
