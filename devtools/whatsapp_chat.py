"""Chat with the running assistant through its real WhatsApp webhook, without a Meta account.

Each typed line becomes a signed WhatsApp Cloud API webhook POSTed to the assistant; its answers
are read back from the Graph API double (``python -m devtools.graph_double``), which the
WhatsApp channel must be pointed at. When the assistant offers buttons or a list, typing a
row's number sends the matching ``button_reply``/``list_reply``, so buttons work here too.
``/file <path>`` sends a photo (JPEG, PNG, WebP) or a PDF, as a payment receipt would be sent:
the file is registered with the double as WhatsApp media, and the webhook carries its media id.

Webhooks carry the number and the business-scoped user id (BSUID), as Meta's have since April
2026. With ``--username`` the buyer has a WhatsApp username and shows no number: webhooks carry
only the BSUID, as Meta sends them, and typing ``share`` answers the assistant's request for
the number with the contact card WhatsApp sends when the buyer taps its button.

    META_APP_SECRET=<the assistant's app secret> python -m devtools.whatsapp_chat \\
        --webhook http://127.0.0.1:5005/webhooks/whatsapp/webhook \\
        --graph http://127.0.0.1:8900 --phone-number-id 100000001 \\
        [--wa-id 2348012345678] [--name Ada] [--username ada_buys] [--bsuid NG.8462019375510] \\
        [--share-phone "+234 801 234 5678"]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import mimetypes
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
import requests

from bot.meta.signature import signature_header
from bot.platform.phones import InvalidPhone, normalise_phone, wa_id_of_phone
from devtools.graph_double import is_bsuid, mask

DEFAULT_WEBHOOK = "http://127.0.0.1:5005/webhooks/whatsapp/webhook"
DEFAULT_GRAPH = "http://127.0.0.1:8900"
DEFAULT_PHONE_NUMBER_ID = "100000001"
DEFAULT_WA_ID = "2348012345678"
DEFAULT_NAME = "Ada"
# The business account (entry.id) and its display number: the assistant keys shops on
# phone_number_id, so fixed values are enough here.
WABA_ID = "100000000000001"
DISPLAY_PHONE_NUMBER = "2348000000000"
HTTP_TIMEOUT = 10.0
# The kind of the offer WhatsApp shows as a button sharing the buyer's own number, and the word
# that taps it here.
CONTACT_REQUEST = "request_contact_info"
SHARE = "share"
FILE_COMMAND = "/file"
# What WhatsApp delivers as an image message; anything else goes as a document.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})

Payload = dict[str, Any]
Record = dict[str, Any]


@dataclass(frozen=True)
class Choice:
    """A button or list row the assistant offered, which the user picks by its number, or its
    request for the buyer's number, which the user answers with ``share``."""

    kind: str  # "button_reply", "list_reply" or CONTACT_REQUEST
    id: str
    title: str
    description: str | None = None
    message_id: str | None = None  # wamid of the message that offered it, for `context`


@dataclass(frozen=True)
class Buyer:
    """The WhatsApp user typing, as webhooks show them: always by business-scoped user id, and
    by number (``wa_id``) unless they have a username and keep their number to themselves."""

    name: str
    user_id: str
    wa_id: str | None
    username: str | None = None


@dataclass(frozen=True)
class ChatConfig:
    webhook: str
    graph: str
    phone_number_id: str
    buyer: Buyer
    share_wa_id: str  # the number ``share`` sends, as WhatsApp writes it
    app_secret: str
    reply_timeout: float = 30.0
    quiet_period: float = 1.5
    poll_interval: float = 0.25

    @property
    def addresses(self) -> list[str]:
        """Every address that reaches the buyer's phone: the assistant replies by number when
        it knows one, else by user id."""
        found = [self.buyer.user_id, self.buyer.wa_id, self.share_wa_id]
        return list(dict.fromkeys(address for address in found if address))


def default_user_id(wa_id: str) -> str:
    """A business-scoped user id that stays the same for a number from one chat to the next,
    with or without ``--username``, as Meta's does for one person."""
    digits = int.from_bytes(hashlib.sha256(wa_id.encode()).digest()[:8], "big") % 10**13
    return f"NG.{digits:013d}"


# Webhook payloads


def new_message_id() -> str:
    return "wamid." + secrets.token_urlsafe(24)


def _webhook(message: Payload, phone_number_id: str, buyer: Buyer) -> Payload:
    """Wrap one inbound message in the envelope Meta POSTs to the callback URL."""
    profile = {"name": buyer.name}
    if buyer.username:
        profile["username"] = buyer.username
    contact: Payload = {"profile": profile}
    if buyer.wa_id:
        contact["wa_id"] = buyer.wa_id
    contact["user_id"] = buyer.user_id
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": DISPLAY_PHONE_NUMBER,
            "phone_number_id": phone_number_id,
        },
        "contacts": [contact],
        "messages": [message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }


def _message(buyer: Buyer, kind: str) -> Payload:
    """A message's own fields; ``from`` is absent, not empty, when the number is not shown."""
    sender = {"from": buyer.wa_id} if buyer.wa_id else {}
    return {
        **sender,
        "from_user_id": buyer.user_id,
        "id": new_message_id(),
        "timestamp": str(int(time.time())),
        "type": kind,
    }


def whatsapp_text_webhook(text: str, *, phone_number_id: str, buyer: Buyer) -> Payload:
    """The webhook for a text the buyer typed."""
    message = {**_message(buyer, "text"), "text": {"body": text}}
    return _webhook(message, phone_number_id, buyer)


def whatsapp_button_webhook(choice: Choice, *, phone_number_id: str, buyer: Buyer) -> Payload:
    """The webhook for a tapped reply button or list row, pointing back at the offer."""
    reply: Payload = {"id": choice.id, "title": choice.title}
    if choice.kind == "list_reply" and choice.description is not None:
        reply["description"] = choice.description
    message = {
        **_message(buyer, "interactive"),
        "interactive": {"type": choice.kind, choice.kind: reply},
    }
    if choice.message_id:
        message["context"] = {"from": DISPLAY_PHONE_NUMBER, "id": choice.message_id}
    return _webhook(message, phone_number_id, buyer)


def whatsapp_shared_number_webhook(wa_id: str, *, phone_number_id: str, buyer: Buyer) -> Payload:
    """The webhook for the buyer tapping the button of a request for their number: a contacts
    message whose origin, ``contact_request``, is WhatsApp vouching that the number is theirs."""
    number = phonenumbers.parse(f"+{wa_id}")
    phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    card = {
        "name": {"formatted_name": buyer.name},
        "phones": [{"phone": phone, "wa_id": wa_id, "type": "CELL"}],
        "origin": "contact_request",
    }
    message = {**_message(buyer, "contacts"), "contacts": [card]}
    return _webhook(message, phone_number_id, buyer)


def whatsapp_media_webhook(
    media_id: str,
    content: bytes,
    mime_type: str,
    filename: str,
    *,
    phone_number_id: str,
    buyer: Buyer,
) -> Payload:
    """The webhook for a photo (an ``image``) or another file (a ``document``) the buyer sent,
    as WhatsApp describes it: its media id, type and SHA-256."""
    kind = "image" if mime_type in IMAGE_TYPES else "document"
    media: Payload = {
        "id": media_id,
        "mime_type": mime_type,
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    if kind == "document":
        media["filename"] = filename
    message = {**_message(buyer, kind), kind: media}
    return _webhook(message, phone_number_id, buyer)


class ChatInputError(ValueError):
    """A line that cannot be sent (a file that cannot be read); the message says why."""


def encode(payload: Payload) -> bytes:
    """The exact bytes that are both signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 value Meta sends: HMAC-SHA256 of the raw body bytes, made by the
    same signer the assistant checks webhooks with."""
    return signature_header(secret, body)


def pick(line: str, choices: list[Choice]) -> Choice | None:
    """The offered choice a typed number names, or the request for the number ``share``
    answers, if there is one."""
    if line.isdigit() and 1 <= int(line) <= len(choices):
        return choices[int(line) - 1]
    if line.lower() == SHARE:
        return next((choice for choice in choices if choice.kind == CONTACT_REQUEST), None)
    return None


# Replies


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _interactive(interactive: Payload, offer: str | None) -> tuple[list[str], list[Choice]]:
    """Header, body and footer, then the numbered buttons or rows; ``offer`` is its wamid."""
    lines = [
        text
        for part in ("header", "body", "footer")
        if (text := _dict(interactive.get(part)).get("text"))
    ]
    action = _dict(interactive.get("action"))
    choices: list[Choice] = []
    kind = interactive.get("type")
    if kind == "button":
        for button in action.get("buttons", []):
            reply = _dict(_dict(button).get("reply"))
            choices.append(
                Choice("button_reply", str(reply.get("id")), str(reply.get("title")), None, offer)
            )
            lines.append(f"  {len(choices)}. {reply.get('title')}")
    elif kind == "list":
        lines.append(f"  [{action.get('button', 'Options')}]")
        for section in action.get("sections", []):
            if title := _dict(section).get("title"):
                lines.append(f"  {title}")
            for row in _dict(section).get("rows", []):
                row = _dict(row)
                description = row.get("description")
                choices.append(
                    Choice(
                        "list_reply", str(row.get("id")), str(row.get("title")), description, offer
                    )
                )
                suffix = f" - {description}" if description else ""
                lines.append(f"  {len(choices)}. {row.get('title')}{suffix}")
    elif kind == "cta_url":
        parameters = _dict(action.get("parameters"))
        lines.append(f"  [{parameters.get('display_text', 'Open')}] {parameters.get('url')}")
    elif kind == CONTACT_REQUEST:
        choices.append(Choice(CONTACT_REQUEST, SHARE, "Share phone number", None, offer))
        lines.append(f'  [Share phone number] type "{SHARE}" to send your number')
    else:
        lines.append(f"[interactive {kind}]")
    return lines, choices


def render_reply(record: Record) -> tuple[list[str], list[Choice]]:
    """The lines to print for one recorded send, and the choices it offers."""
    error = record.get("error")
    if error:
        return [f"! send failed ({error.get('code')}): {error.get('message')}"], []
    body = record["body"]
    kind = str(body.get("type", "text"))
    content = _dict(body.get(kind))
    if kind == "text":
        return str(content.get("body", "")).splitlines() or [""], []
    if kind == "interactive":
        return _interactive(content, record.get("id"))
    if kind == "template":
        return [f"[template] {content.get('name')}"], []
    lines = [f"[{kind}] {content.get('link') or content.get('id', '')}".rstrip()]
    if content.get("caption"):
        lines.append(f"  {content['caption']}")
    return lines, []


def fetch_sent(graph: str, since: int, to: list[str] | None = None) -> list[Record]:
    """The double's sends from index ``since``, to any of the addresses ``to`` if given."""
    params: dict[str, Any] = {"since": since}
    if to is not None:
        params["to"] = to
    response = requests.get(f"{graph}/__sent", params=params, timeout=HTTP_TIMEOUT)
    response.raise_for_status()
    return response.json()


def poll_replies(config: ChatConfig, since: int) -> Iterator[Record]:
    """Sends to the buyer from index ``since`` as they arrive, until a quiet spell or timeout."""
    deadline = time.monotonic() + config.reply_timeout
    last_arrival: float | None = None
    while True:
        now = time.monotonic()
        quiet = last_arrival is not None and now - last_arrival >= config.quiet_period
        if quiet or now >= deadline:
            return
        records = fetch_sent(config.graph, since, to=config.addresses)
        if records:
            yield from records
            since = records[-1]["index"] + 1
            last_arrival = time.monotonic()
        time.sleep(config.poll_interval)


# The conversation


def post_webhook(config: ChatConfig, payload: Payload) -> requests.Response:
    body = encode(payload)
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(body, config.app_secret),
    }
    return requests.post(config.webhook, data=body, headers=headers, timeout=HTTP_TIMEOUT)


def register_media(config: ChatConfig, content: bytes, mime_type: str) -> str:
    """Hand the file to the Graph API double, which serves it as WhatsApp media; its id."""
    answer = requests.post(
        f"{config.graph}/__control/media",
        json={"content_b64": base64.b64encode(content).decode(), "mime_type": mime_type},
        timeout=HTTP_TIMEOUT,
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


def _file_payload(path_text: str, config: ChatConfig) -> Payload:
    path = Path(path_text).expanduser()
    try:
        content = path.read_bytes()
    except OSError as error:
        raise ChatInputError(f"cannot read {path}: {error.strerror or error}") from error
    mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    media_id = register_media(config, content, mime_type)
    return whatsapp_media_webhook(
        media_id,
        content,
        mime_type,
        path.name,
        phone_number_id=config.phone_number_id,
        buyer=config.buyer,
    )


def _payload_for(line: str, choices: list[Choice], config: ChatConfig) -> Payload:
    shop, buyer = config.phone_number_id, config.buyer
    command, _, argument = line.partition(" ")
    if command == FILE_COMMAND:
        if not argument.strip():
            raise ChatInputError(f"say which file: {FILE_COMMAND} path/to/receipt.jpg")
        return _file_payload(argument.strip(), config)
    choice = pick(line, choices)
    if choice is None:
        return whatsapp_text_webhook(line, phone_number_id=shop, buyer=buyer)
    if choice.kind == CONTACT_REQUEST:
        return whatsapp_shared_number_webhook(config.share_wa_id, phone_number_id=shop, buyer=buyer)
    return whatsapp_button_webhook(choice, phone_number_id=shop, buyer=buyer)


def _show(record: Record, write: Callable[[str], None]) -> list[Choice]:
    lines, choices = render_reply(record)
    write("bot> " + lines[0])
    for line in lines[1:]:
        write("     " + line)
    return choices


def _turn(
    config: ChatConfig,
    line: str,
    choices: list[Choice],
    since: int,
    write: Callable[[str], None],
) -> tuple[list[Choice], int]:
    """Send one line, print the replies; returns what is now on offer and the next log index."""
    try:
        payload = _payload_for(line, choices, config)
    except ChatInputError as error:
        write(f"! {error}")
        return choices, since
    response = post_webhook(config, payload)
    if response.status_code != 200:
        write(f"! webhook answered {response.status_code}: {response.text[:200]}")
        return choices, since
    offered: list[Choice] = []
    replied = False
    for record in poll_replies(config, since):
        replied = True
        since = record["index"] + 1
        offered = _show(record, write) or offered
    if not replied:
        write(f"(no reply within {config.reply_timeout:g} s)")
    return offered, since


def chat(config: ChatConfig, read_line: Callable[[], str], write: Callable[[str], None]) -> None:
    """Converse until the input ends; only replies sent after the start are shown."""
    since = len(fetch_sent(config.graph, 0))
    choices: list[Choice] = []
    while True:
        try:
            line = read_line().strip()
        except EOFError:
            return
        if not line:
            continue
        try:
            choices, since = _turn(config, line, choices, since, write)
        except requests.RequestException as error:
            url = error.request.url if error.request is not None else config.webhook
            write(f"! no answer from {url} ({type(error).__name__})")


def _wa_id(typed: str) -> str:
    """A phone number as typed, as WhatsApp writes it: country code and digits."""
    try:
        return wa_id_of_phone(normalise_phone(typed))
    except InvalidPhone as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _user_id(typed: str) -> str:
    if not is_bsuid(typed):
        raise argparse.ArgumentTypeError(
            "a business-scoped user id is a country code, a dot and letters or digits, "
            "for example NG.8462019375510"
        )
    return typed


def main(argv: list[str] | None = None) -> int:
    prog = "python -m devtools.whatsapp_chat"
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Chat with the assistant through its WhatsApp webhook and the Graph "
        "API double. Needs META_APP_SECRET, the app secret the assistant verifies with.",
    )
    parser.add_argument("--webhook", default=DEFAULT_WEBHOOK)
    parser.add_argument("--graph", default=DEFAULT_GRAPH, help="the Graph API double's URL")
    parser.add_argument("--phone-number-id", default=DEFAULT_PHONE_NUMBER_ID)
    parser.add_argument("--wa-id", type=_wa_id, default=DEFAULT_WA_ID, help="the buyer's number")
    parser.add_argument("--name", default=DEFAULT_NAME)
    parser.add_argument(
        "--username", help="chat as a buyer with this WhatsApp username, showing no number"
    )
    parser.add_argument(
        "--bsuid", type=_user_id, help="the buyer's user id (default: one derived from --wa-id)"
    )
    parser.add_argument(
        "--share-phone",
        type=_wa_id,
        help='the number "share" sends when asked for it (default: --wa-id)',
    )
    args = parser.parse_args(argv)
    secret = os.environ.get("META_APP_SECRET", "")
    if not secret:
        print(f"{prog}: set META_APP_SECRET to the assistant's app secret", file=sys.stderr)
        return 2
    buyer = Buyer(
        name=args.name,
        user_id=args.bsuid or default_user_id(args.wa_id),
        wa_id=None if args.username else args.wa_id,
        username=args.username,
    )
    config = ChatConfig(
        webhook=args.webhook,
        graph=args.graph.rstrip("/"),
        phone_number_id=args.phone_number_id,
        buyer=buyer,
        share_wa_id=args.share_phone or args.wa_id,
        app_secret=secret,
    )
    print(
        f"Chatting as {_shown(buyer)} with phone number id {config.phone_number_id}. Type a "
        f'number to pick an offered button, "{SHARE}" to send your number when asked, '
        f"{FILE_COMMAND} <path> to send a photo or PDF; Ctrl-D quits."
    )
    try:
        chat(config, lambda: input("you> "), print)
    except requests.RequestException as error:
        print(f"{prog}: no Graph API double at {config.graph}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    print()
    return 0


def _shown(buyer: Buyer) -> str:
    """Who the buyer is, ids masked as everywhere else."""
    if buyer.wa_id:
        return f"{buyer.name} ({mask(buyer.wa_id)}, user id {mask(buyer.user_id)})"
    return f"{buyer.name} (@{buyer.username}, no number shown, user id {mask(buyer.user_id)})"


if __name__ == "__main__":
    raise SystemExit(main())
