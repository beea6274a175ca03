"""Webhook payloads in Meta's documented shapes, and the signature Meta puts on them."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from typing import Any

from sqlalchemy.orm import Session

from bot.meta.signature import signature_header
from bot.shop import shops

APP_SECRET = "test-app-secret-5f1c2a"
VERIFY_TOKEN = "test-verify-token"
PHONE_NUMBER_ID = "106540352242922"
OTHER_PHONE_NUMBER_ID = "106540352242999"
IG_ACCOUNT_ID = "17841400000000001"
BUYER = "2348012345678"
BUYER_BSUID = "NG.8462019375510"
_ids = itertools.count(1)


def add_meta_shop(session: Session) -> None:
    """Mama Put Fabrics, the shop of the WhatsApp number and the Instagram account these
    payloads are addressed to."""
    shops.add_shop(
        session,
        "mama-put",
        "Mama Put Fabrics",
        whatsapp_phone_id=PHONE_NUMBER_ID,
        instagram_account_id=IG_ACCOUNT_ID,
    )


def signed(payload: Any, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    signature = signature_header(secret, body)
    return body, {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}


def wa_message(kind: str, content: dict[str, Any], *, sender: str = BUYER, age: float = 0) -> dict:
    return {
        "from": sender,
        "id": f"wamid.HBgNMjM0ODAxMjM0NTY3OBUCABIYFDNB{next(_ids):06d}",
        "timestamp": str(int(time.time() - age)),
        "type": kind,
        **content,
    }


def wa_text(text: str, **kwargs: Any) -> dict:
    return wa_message("text", {"text": {"body": text}}, **kwargs)


def wa_photo(media_id: str, content: bytes, *, caption: str | None = None, **kwargs: Any) -> dict:
    """A JPEG as WhatsApp relays it: its media id, and the sha256 Meta declares of ``content``."""
    image = {
        "id": media_id,
        "mime_type": "image/jpeg",
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    if caption is not None:
        image["caption"] = caption
    return wa_message("image", {"image": image}, **kwargs)


def wa_button_reply(payload: str, title: str, **kwargs: Any) -> dict:
    """A tap on a reply button the assistant sent."""
    reply = {"type": "button_reply", "button_reply": {"id": payload, "title": title}}
    return wa_message("interactive", {"interactive": reply}, **kwargs)


def wa_list_reply(payload: str, title: str, **kwargs: Any) -> dict:
    """A row chosen from a list the assistant sent."""
    row = {"id": payload, "title": title, "description": f"{title}, in full"}
    reply = {"type": "list_reply", "list_reply": row}
    return wa_message("interactive", {"interactive": reply}, **kwargs)


def wa_template_button(payload: str, text: str, **kwargs: Any) -> dict:
    """A quick-reply button of a template message."""
    return wa_message("button", {"button": {"payload": payload, "text": text}}, **kwargs)


def wa_media(kind: str, media_id: str, mime_type: str, **kwargs: Any) -> dict:
    """An image, document, sticker, audio or video message, as its media id."""
    media = {"id": media_id, "mime_type": mime_type, "sha256": "x" * 44}
    return wa_message(kind, {kind: media}, **kwargs)


def wa_location(**kwargs: Any) -> dict:
    place = {"latitude": 6.4541, "longitude": 3.3947, "name": "Balogun Market", "address": "Lagos"}
    return wa_message("location", {"location": place}, **kwargs)


def wa_contacts(**kwargs: Any) -> dict:
    card = {
        "name": {"formatted_name": "Bola Ade", "first_name": "Bola"},
        "phones": [{"phone": "+234 801 234 5679", "type": "CELL", "wa_id": "2348012345679"}],
    }
    return wa_message("contacts", {"contacts": [card]}, **kwargs)


def wa_reaction(message_id: str, emoji: str = "\U0001f44d", **kwargs: Any) -> dict:
    return wa_message(
        "reaction", {"reaction": {"message_id": message_id, "emoji": emoji}}, **kwargs
    )


def wa_unsupported(**kwargs: Any) -> dict:
    """What WhatsApp relays of a message type the Cloud API does not support."""
    error = {
        "code": 131051,
        "title": "Message type unknown",
        "message": "Message type unknown",
        "error_data": {"details": "Message type is currently not supported."},
    }
    return wa_message("unsupported", {"errors": [error]}, **kwargs)


def wa_revoke(original_id: str, **kwargs: Any) -> dict:
    """The buyer deleted an earlier message."""
    return wa_message("revoke", {"revoke": {"original_message_id": original_id}}, **kwargs)


def whatsapp(
    messages: list[dict] = (),
    statuses: list[dict] = (),
    phone_number_id: str = PHONE_NUMBER_ID,
    usernames: dict[str, str] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "2348000000000", "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = _contacts(messages, usernames or {})
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


def _contacts(messages: list[dict], usernames: dict[str, str]) -> list[dict[str, Any]]:
    """One ``contacts[]`` entry per sender, as Meta writes them: the number only when shown, the
    user id when the message has one, the username (by user id) when the user has one. System
    notices have none."""
    contacts: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for message in messages:
        if message.get("type") == "system":
            continue
        ids = (message.get("from"), message.get("from_user_id"))
        profile = {"name": "Ada"}
        if ids[1] in usernames:
            profile["username"] = usernames[ids[1]]
        contact: dict[str, Any] = {"profile": profile}
        if ids[0]:
            contact["wa_id"] = ids[0]
        if ids[1]:
            contact["user_id"] = ids[1]
        contacts.setdefault(ids, contact)
    return list(contacts.values())


def wa_from_user(
    kind: str,
    content: dict[str, Any],
    *,
    phone: str | None = BUYER,
    user_id: str = BUYER_BSUID,
    age: float = 0,
) -> dict:
    """A message as Meta sends it since April 2026: the user id always, the number (``from``)
    only when the user shows it."""
    message = wa_message(kind, content, sender=phone or "", age=age)
    if phone is None:
        del message["from"]
    message["from_user_id"] = user_id
    return message


def wa_system(change: str, *, phone: str | None, previous_user_id: str, **system: Any) -> dict:
    """A ``system`` notice of a changed number or user id (no contacts, never answered)."""
    body = f"User Ada changed from {phone or previous_user_id}"
    message = wa_message(
        "system",
        {"system": {"body": body, "type": change, "previous_user_id": previous_user_id, **system}},
        sender=phone or "",
    )
    if phone is None:
        del message["from"]
    return message


def wa_status(message_id: str, status: str, error_code: int | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": BUYER,
    }
    if error_code is not None:
        update["errors"] = [{"code": error_code, "title": "Re-engagement message"}]
    return update


def instagram(messaging: list[dict], account_id: str = IG_ACCOUNT_ID) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "object": "instagram",
        "entry": [{"id": account_id, "time": now, "messaging": messaging}],
    }


def ig_event(message: dict[str, Any], *, sender: str = "IGSID-1", echo: bool = False) -> dict:
    sent = {"mid": _ig_mid(), **message, **({"is_echo": True} if echo else {})}
    return {
        "sender": {"id": IG_ACCOUNT_ID if echo else sender},
        "recipient": {"id": sender if echo else IG_ACCOUNT_ID},
        "timestamp": int(time.time() * 1000),
        "message": sent,
    }


def ig_quick_reply(payload: str, title: str, **kwargs: Any) -> dict:
    """A tap on a quick reply the assistant sent."""
    return ig_event({"text": title, "quick_reply": {"payload": payload}}, **kwargs)


def ig_attachment(kind: str, url: str, **kwargs: Any) -> dict:
    return ig_event({"attachments": [{"type": kind, "payload": {"url": url}}]}, **kwargs)


def ig_notice(key: str, content: dict[str, Any], *, sender: str = "IGSID-1") -> dict:
    """An event about the conversation other than a message: ``postback`` (a tap on a button),
    ``read``, ``delivery``, ``reaction``."""
    return {
        "sender": {"id": sender},
        "recipient": {"id": IG_ACCOUNT_ID},
        "timestamp": int(time.time() * 1000),
        key: content,
    }


def ig_postback(payload: str, title: str, **kwargs: Any) -> dict:
    return ig_notice("postback", {"mid": _ig_mid(), "title": title, "payload": payload}, **kwargs)


def _ig_mid() -> str:
    return f"aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE{next(_ids):06d}"
