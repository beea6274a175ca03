"""What the WhatsApp and Instagram channels share: Meta's webhook contract and a durable inbox.

A webhook is verified against the raw body (HMAC-SHA256, constant-time), every message of the
batch is written to the inbox, and only then does Meta get its 200: quickly, because the
conversation turn runs afterwards in a background task. Each message is claimed by exactly one
worker, a sender's messages are processed in the order they arrived, a redelivery is dropped by
the inbox's unique key, and what was acknowledged but not processed before a restart is processed
when the server starts again.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import sys
import threading
from dataclasses import asdict
from typing import Any, Awaitable, Callable, ClassVar, Dict, List, Sequence, Set, Tuple

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import inbox, secret_store
from bot.db import session_scope
from bot.graph import GraphClient, GraphError
from bot.masking import mask_user_id
from bot.models import InboxState, utcnow
from bot.settings import Settings, get_settings
from bot.shops import account_of_shop, conversation_id, parse_conversation_id, shop_for_account
from bot.webhooks import BUTTON, MEDIA, TEXT, InboundMessage, Media, StatusUpdate
from connectors.receipts import ReceiptIntake

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024
# Turns started at once: a burst of new buyers otherwise starts hundreds of turns together, whose
# idle connections to the action server outlive its keep-alive and fail (replies lost).
MAX_TURNS_IN_FLIGHT = 8
# Seconds before each new attempt at a turn that sent nothing: Rasa logs a failed custom action
# and carries on without its events, so a turn with no reply is how a failure shows here.
TURN_RETRY_DELAYS = (1.0, 4.0, 15.0)
# Seconds a thread may hold the GIL while another waits (Python's default: 0.005).
GIL_SWITCH_INTERVAL = 0.001
NO_REPLY_APOLOGY = (
    "Sorry, something went wrong on our side and I could not answer that. "
    "Please send your message again in a few minutes."
)
_SIGNATURE_RE = re.compile(r"sha256=([0-9a-f]{64})")
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class ChannelConfigurationError(RuntimeError):
    """The channel cannot start safely; the message says what to set."""


def signature_is_valid(app_secrets: Sequence[str], body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256: sha256=<64 hex>`` over the raw body under any of the app secrets
    (the previous one stays valid while a rotation lasts), compared in constant time."""
    if isinstance(app_secrets, str):
        raise TypeError("app_secrets is a list of secrets, not one string")
    match = _SIGNATURE_RE.fullmatch(header or "")
    if match is None:
        return False
    valid = False
    for secret in filter(None, app_secrets):
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        valid |= hmac.compare_digest(expected, match.group(1))
    return valid


class AccountDirectory:
    """Which Meta account and token speak for a shop on a channel."""

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def account_of(self, shop_id: str) -> str | None:
        with session_scope() as session:
            return account_of_shop(session, shop_id, self.channel)

    def token_of(self, shop_id: str) -> str | None:
        """The shop's own token; in development the environment's token serves shops without one.

        May read Secrets Manager or a file when its cache is stale: call it off the event loop.
        """
        return secret_store.shop_token(shop_id, self.channel)


class MetaOutput(OutputChannel, abc.ABC):
    """Sends through the Graph API as the shop the conversation belongs to.

    The recipient is Rasa's sender id (``shop:channel:user``), so the same output channel serves
    replies and messages sent later through Rasa's API. Every send is recorded, failed ones with
    Meta's error code, so delivery statuses can be joined to them.
    """

    def __init__(self, graph: GraphClient, accounts: AccountDirectory) -> None:
        self._graph = graph
        self._accounts = accounts
        self.sends_attempted = 0

    def for_turn(self) -> MetaOutput:
        """A fresh output channel for one turn, whose ``sends_attempted`` tells if it replied."""
        return type(self)(self._graph, self._accounts)

    @abc.abstractmethod
    def bodies(
        self, user_id: str, text: str, buttons: List[Dict[str, Any]], image_url: str | None
    ) -> List[Dict[str, Any]]:
        """The Graph API bodies for one response."""

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send(recipient_id, text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send(recipient_id, text, buttons)

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send(recipient_id, text, quick_replies)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send(recipient_id, "", image_url=image)

    async def send_custom_json(
        self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any
    ) -> None:
        # Custom payloads are for web clients (and may hold signed forms): never dumped into a chat.
        logger.debug("custom payload not sent to a chat", extra={"keys": sorted(json_message)})

    async def _send(
        self,
        recipient_id: str,
        text: str,
        buttons: List[Dict[str, Any]] | None = None,
        image_url: str | None = None,
    ) -> None:
        shop_id, _, user_id = parse_conversation_id(recipient_id)
        account_id = await asyncio.to_thread(self._accounts.account_of, shop_id)
        token = await asyncio.to_thread(self._accounts.token_of, shop_id)
        if not account_id or not token:
            logger.error(
                "no account or token to reply with",
                extra={"shop_id": shop_id, "channel": self.name(), "has_account": bool(account_id)},
            )
            return
        for body in self.bodies(user_id, text, list(buttons or []), image_url):
            self.sends_attempted += 1
            message_id, error = None, None
            try:
                message_id = await self._graph.send_message(account_id, token, body)
            except GraphError as failure:
                error = failure
                logger.warning(
                    "send failed",
                    extra={
                        "shop_id": shop_id,
                        "channel": self.name(),
                        "recipient": mask_user_id(user_id),
                        "code": failure.code,
                        "retryable": failure.retryable,
                    },
                )
            await asyncio.to_thread(
                _record_sent, shop_id, self.name(), account_id, user_id, message_id, error
            )
            if error is not None:
                return


def _record_sent(
    shop_id: str,
    channel: str,
    account_id: str,
    user_id: str,
    message_id: str | None,
    error: GraphError | None,
) -> None:
    with session_scope() as session:
        inbox.record_sent(
            session,
            shop_id=shop_id,
            channel=channel,
            account_id=account_id,
            recipient=user_id,
            platform_message_id=message_id,
            error_code=error.code if error else None,
            error_title=error.title if error else None,
        )


class TurnLoop:
    """Conversation turns run on an event loop of their own, in a thread.

    A turn holds its loop for the model's inference; webhooks acknowledged on the same loop would
    wait behind every turn in progress. Here the server's loop only verifies, stores and answers.
    Both threads share one GIL: with Python's default 5 ms switch interval an acknowledgement
    waits up to 5 ms for a turn each time it needs the GIL back, so the loop's thread lowers it.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def call(self, callback: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                sys.setswitchinterval(GIL_SWITCH_INTERVAL)
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name=f"{self._name}-turns", daemon=True
                )
                self._thread.start()
        self._loop.call_soon_threadsafe(callback, *args)

    def run(self, work: Awaitable[Any], timeout: float) -> None:
        """Run a coroutine on the turn loop and wait for it (from another thread)."""
        with self._lock:
            loop = self._loop
        if loop is None:
            work.close()
            return
        asyncio.run_coroutine_threadsafe(work, loop).result(timeout=timeout)


class MetaInput(InputChannel, abc.ABC):
    """The webhook side of a Meta channel (``GET``/``POST /webhooks/<name>/webhook``)."""

    channel: ClassVar[str]

    def __init__(
        self,
        app_secrets: Callable[[], List[str]],
        verify_token: str,
        graph: GraphClient,
        output: MetaOutput,
        receipts: ReceiptIntake,
        stale_after: dt.timedelta,
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
        self._turns = TurnLoop(self.name())
        self._turn_slots: asyncio.Semaphore | None = None
        self._tails: Dict[str, asyncio.Task] = {}
        self._running: Set[asyncio.Task] = set()

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> MetaInput:
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
            receipts=ReceiptIntake(graph, accounts, settings.receipts_bucket),
            stale_after=dt.timedelta(seconds=settings.inbox_stale_after_seconds),
        )

    @classmethod
    def name(cls) -> str:
        return cls.channel

    @classmethod
    def graph_api_url(cls, settings: Settings) -> str:
        """The host of this channel's Graph API calls (sends and media)."""
        return settings.graph_api_url

    @classmethod
    def webhook_secrets(cls) -> List[str]:
        """The secrets this channel's webhooks may be signed with, read per request (rotation)."""
        return secret_store.app_secrets()

    @classmethod
    @abc.abstractmethod
    def output_class(cls) -> type:
        """The MetaOutput subclass of this channel."""

    @abc.abstractmethod
    def parse(self, payload: Any) -> Tuple[List[InboundMessage], List[StatusUpdate]]:
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

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, on_new_message)

        @hook.listener("after_server_start")
        async def resume(app: Any, _loop: Any) -> None:
            # Acknowledged before a restart but never processed: process now, oldest first.
            pending = await asyncio.to_thread(_unfinished, self.name())
            if pending:
                logger.info(
                    "resuming unprocessed messages",
                    extra={"channel": self.name(), "count": len(pending)},
                )
            for inbox_id, sender in pending:
                self._schedule(inbox_id, sender, on_new_message)

        @hook.listener("after_server_stop")
        async def close(app: Any, _loop: Any) -> None:
            # Turns in progress finish (their replies go out) before the Graph client closes.
            await asyncio.to_thread(self._turns.run, self._drain(), 60)

        return hook

    async def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
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
        except ValueError:
            logger.warning(
                "signed webhook that is not JSON acknowledged", extra={"channel": self.name()}
            )
            return response.text("ok")
        messages, statuses = self.parse(payload)
        accepted = await asyncio.to_thread(_store, self.name(), messages, statuses)
        for inbox_id, sender in accepted:
            self._schedule(inbox_id, sender, on_new_message)
        return response.text("ok")

    async def _drain(self) -> None:
        if self._running:
            await asyncio.wait(set(self._running), timeout=55)
        await self._graph.close()

    def _schedule(self, inbox_id: int, sender: str, on_new_message: OnNewMessage) -> None:
        self._turns.call(self._schedule_turn, inbox_id, sender, on_new_message)

    def _schedule_turn(self, inbox_id: int, sender: str, on_new_message: OnNewMessage) -> None:
        """On the turn loop: after the sender's previous message, so turns stay in order."""
        previous = self._tails.get(sender)
        task = asyncio.get_running_loop().create_task(
            self._process_after(previous, inbox_id, on_new_message)
        )
        self._tails[sender] = task
        self._running.add(task)

        def forget(done: asyncio.Task) -> None:
            self._running.discard(done)
            if self._tails.get(sender) is done:
                del self._tails[sender]

        task.add_done_callback(forget)

    async def _process_after(
        self, previous: asyncio.Task | None, inbox_id: int, on_new_message: OnNewMessage
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await self._process(inbox_id, on_new_message)
        except Exception:
            logger.exception(
                "message processing failed", extra={"channel": self.name(), "inbox_id": inbox_id}
            )
            await asyncio.to_thread(_finish, inbox_id, InboxState.FAILED, "processing error")

    async def _process(self, inbox_id: int, on_new_message: OnNewMessage) -> None:
        row = await asyncio.to_thread(_claim, inbox_id)
        if row is None:
            return
        message = _message_from_json(row["message"])
        if utcnow() - row["sent_at"] > self._stale_after:
            logger.info(
                "stale message recorded and skipped",
                extra={"channel": self.name(), "shop_id": row["shop_id"], "inbox_id": inbox_id},
            )
            await asyncio.to_thread(_finish, inbox_id, InboxState.STALE)
            return
        text = await self._text_for_rasa(row["shop_id"], inbox_id, message)
        sender_id = conversation_id(row["shop_id"], self.name(), message.sender)
        metadata = {
            "shop_id": row["shop_id"],
            "channel": self.name(),
            "user_id": message.sender,
            "user_name": message.sender_name,
        }
        log = {"channel": self.name(), "shop_id": row["shop_id"], "inbox_id": inbox_id}
        for delay in (*TURN_RETRY_DELAYS, None):
            output = self._output.for_turn()
            async with self._slots():
                try:
                    await on_new_message(
                        UserMessage(
                            text=text,
                            output_channel=output,
                            sender_id=sender_id,
                            input_channel=self.name(),
                            message_id=message.message_id,
                            metadata=metadata,
                        )
                    )
                except Exception:
                    logger.exception("conversation turn failed", extra=log)
            if output.sends_attempted:
                await asyncio.to_thread(_finish, inbox_id, InboxState.DONE)
                return
            if delay is not None:
                logger.warning("turn sent no reply, trying again", extra={**log, "delay": delay})
                await asyncio.sleep(delay)
        logger.error("turn sent no reply after every attempt", extra=log)
        await self._output.for_turn().send_text_message(sender_id, NO_REPLY_APOLOGY)
        await asyncio.to_thread(_finish, inbox_id, InboxState.FAILED, "no reply")

    def _slots(self) -> asyncio.Semaphore:
        """The bound on turns in flight, made on the turn loop, the only place it is used."""
        if self._turn_slots is None:
            self._turn_slots = asyncio.Semaphore(MAX_TURNS_IN_FLIGHT)
        return self._turn_slots

    async def _text_for_rasa(self, shop_id: str, inbox_id: int, message: InboundMessage) -> str:
        if message.kind == TEXT:
            # Typed text never triggers an intent directly ("/confirm_order{...}"): NLU reads it.
            return (message.text or "").lstrip("/") or "?"
        if message.kind == BUTTON:
            return message.text or message.title or "?"
        if message.kind == MEDIA and message.media is not None:
            return await self._receipts.take(shop_id, inbox_id, message.media)
        # Stickers, voice notes, locations...: the answer says what the assistant understands.
        return "/help"


def _store(
    channel: str, messages: List[InboundMessage], statuses: List[StatusUpdate]
) -> List[Tuple[int, str]]:
    """Inbox the messages of known accounts and apply statuses, in one transaction."""
    accepted: List[Tuple[int, str]] = []
    with session_scope() as session:
        shops: Dict[str, str | None] = {}
        for message in messages:
            if message.account_id not in shops:
                shop = shop_for_account(session, channel, message.account_id)
                shops[message.account_id] = shop.id if shop else None
            shop_id = shops[message.account_id]
            if shop_id is None:
                logger.warning(
                    "message for an unknown account acknowledged",
                    extra={"channel": channel, "account_id": message.account_id},
                )
                continue
            inbox_id = inbox.accept(
                session,
                shop_id=shop_id,
                channel=channel,
                account_id=message.account_id,
                platform_message_id=message.message_id,
                sender=message.sender,
                message=asdict(message),
                sent_at=dt.datetime.fromtimestamp(message.timestamp, dt.timezone.utc).replace(
                    tzinfo=None
                ),
            )
            if inbox_id is None:
                logger.info("redelivered message dropped", extra={"channel": channel})
            else:
                accepted.append((inbox_id, f"{shop_id}:{message.sender}"))
        for status in statuses:
            code, title = status.errors[0] if status.errors else (None, None)
            known = inbox.record_status(
                session,
                channel=channel,
                platform_message_id=status.message_id,
                status=status.status,
                error_code=code,
                error_title=title,
            )
            if status.status == "failed" or not known:
                logger.info(
                    "delivery status",
                    extra={
                        "channel": channel,
                        "status": status.status,
                        "code": code,
                        "known": known,
                    },
                )
    return accepted


def _message_from_json(data: Dict[str, Any]) -> InboundMessage:
    media = data.get("media")
    return InboundMessage(**{**data, "media": Media(**media) if media else None})


def _claim(inbox_id: int) -> Dict[str, Any] | None:
    with session_scope() as session:
        row = inbox.claim(session, inbox_id)
        if row is None:
            return None
        return {"shop_id": row.shop_id, "message": row.message, "sent_at": row.sent_at}


def _finish(inbox_id: int, state: InboxState, error: str | None = None) -> None:
    with session_scope() as session:
        inbox.finish(session, inbox_id, state, error)


def _unfinished(channel: str) -> List[Tuple[int, str]]:
    with session_scope() as session:
        return [
            (inbox_id, f"{shop_id}:{sender}")
            for inbox_id, shop_id, sender in inbox.unfinished(session, channel)
        ]
