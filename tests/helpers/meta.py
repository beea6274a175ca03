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


def whatsapp(
    messages: list[dict] = (),
    statuses: list[dict] = (),
    phone_number_id: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "2348000000000", "phone_number_id": phone_number_id},
    }
    if messages:
        senders = sorted({m["from"] for m in messages})
        value["contacts"] = [{"profile": {"name": "Ada"}, "wa_id": s} for s in senders]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


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
    mid = f"aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE{next(_ids):06d}"
    sent = {"mid": mid, **message, **({"is_echo": True} if echo else {})}
    return {
        "sender": {"id": IG_ACCOUNT_ID if echo else sender},
        "recipient": {"id": sender if echo else IG_ACCOUNT_ID},
        "timestamp": int(time.time() * 1000),
        "message": sent,
    }
