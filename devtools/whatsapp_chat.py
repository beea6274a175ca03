"""Chat with the running assistant through its real WhatsApp webhook, without a Meta account.

Each typed line becomes a signed WhatsApp Cloud API webhook POSTed to the assistant; its answers
are read back from the Graph API double (``python -m devtools.graph_double``), which the
WhatsApp channel must be pointed at. When the assistant offers buttons or a list, typing a
row's number sends the matching ``button_reply``/``list_reply``, so buttons work here too.

    META_APP_SECRET=<the assistant's app secret> python -m devtools.whatsapp_chat \\
        --webhook http://127.0.0.1:5005/webhooks/whatsapp/webhook \\
        --graph http://127.0.0.1:8900 --phone-number-id 100000001 \\
        [--wa-id 2348012345678] [--name Ada]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from bot.meta.signature import signature_header

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

Payload = dict[str, Any]
Record = dict[str, Any]


@dataclass(frozen=True)
class Choice:
    """A button or list row the assistant offered; the user picks it by its number."""

    kind: str  # "button_reply" or "list_reply"
    id: str
    title: str
    description: str | None = None
    message_id: str | None = None  # wamid of the message that offered it, for `context`


@dataclass(frozen=True)
class ChatConfig:
    webhook: str
    graph: str
    phone_number_id: str
    wa_id: str
    name: str
    app_secret: str
    reply_timeout: float = 30.0
    quiet_period: float = 1.5
    poll_interval: float = 0.25


# Webhook payloads


def new_message_id() -> str:
    return "wamid." + secrets.token_urlsafe(24)


def _webhook(message: Payload, phone_number_id: str, wa_id: str, name: str) -> Payload:
    """Wrap one inbound message in the envelope Meta POSTs to the callback URL."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": DISPLAY_PHONE_NUMBER,
            "phone_number_id": phone_number_id,
        },
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }


def _message(wa_id: str, kind: str) -> Payload:
    return {"from": wa_id, "id": new_message_id(), "timestamp": str(int(time.time())), "type": kind}


def whatsapp_text_webhook(text: str, *, phone_number_id: str, wa_id: str, name: str) -> Payload:
    """The webhook for a text the buyer typed."""
    message = {**_message(wa_id, "text"), "text": {"body": text}}
    return _webhook(message, phone_number_id, wa_id, name)


def whatsapp_button_webhook(
    choice: Choice, *, phone_number_id: str, wa_id: str, name: str
) -> Payload:
    """The webhook for a tapped reply button or list row, pointing back at the offer."""
    reply: Payload = {"id": choice.id, "title": choice.title}
    if choice.kind == "list_reply" and choice.description is not None:
        reply["description"] = choice.description
    message = {
        **_message(wa_id, "interactive"),
        "interactive": {"type": choice.kind, choice.kind: reply},
    }
    if choice.message_id:
        message["context"] = {"from": DISPLAY_PHONE_NUMBER, "id": choice.message_id}
    return _webhook(message, phone_number_id, wa_id, name)


def encode(payload: Payload) -> bytes:
    """The exact bytes that are both signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 value Meta sends: HMAC-SHA256 of the raw body bytes, made by the
    same signer the assistant checks webhooks with."""
    return signature_header(secret, body)


def pick(line: str, choices: list[Choice]) -> Choice | None:
    """The offered choice a typed number names, if it names one."""
    if line.isdigit() and 1 <= int(line) <= len(choices):
        return choices[int(line) - 1]
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


def fetch_sent(graph: str, since: int, to: str | None = None) -> list[Record]:
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
        records = fetch_sent(config.graph, since, to=config.wa_id)
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


def _payload_for(line: str, choices: list[Choice], config: ChatConfig) -> Payload:
    who = {"phone_number_id": config.phone_number_id, "wa_id": config.wa_id, "name": config.name}
    choice = pick(line, choices)
    if choice is not None:
        return whatsapp_button_webhook(choice, **who)
    return whatsapp_text_webhook(line, **who)


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
    response = post_webhook(config, _payload_for(line, choices, config))
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
    parser.add_argument("--wa-id", default=DEFAULT_WA_ID)
    parser.add_argument("--name", default=DEFAULT_NAME)
    args = parser.parse_args(argv)
    secret = os.environ.get("META_APP_SECRET", "")
    if not secret:
        print(f"{prog}: set META_APP_SECRET to the assistant's app secret", file=sys.stderr)
        return 2
    config = ChatConfig(
        webhook=args.webhook,
        graph=args.graph.rstrip("/"),
        phone_number_id=args.phone_number_id,
        wa_id=args.wa_id,
        name=args.name,
        app_secret=secret,
    )
    print(
        f"Chatting as {config.name} (***{config.wa_id[-4:]}) with phone number id "
        f"{config.phone_number_id}. Type a number to pick an offered button; Ctrl-D quits."
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


if __name__ == "__main__":
    raise SystemExit(main())
