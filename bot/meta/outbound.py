"""Graph API send bodies for one Rasa response (text, buttons, image), within every Meta limit.

Nothing here touches the network: the channels POST the bodies in order. WhatsApp does not
guarantee the delivery order of several messages, so a response becomes one composed message
whenever the limits allow, and extra messages only carry text that did not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A response's custom payload key asking for WhatsApp's button that shares the buyer's number.
ASK_FOR_PHONE = "ask_for_phone"
WHATSAPP_TEXT_LIMIT = 4096
WHATSAPP_BODY_LIMIT = 1024  # interactive body
INSTAGRAM_TEXT_LIMIT_BYTES = 1000

_WHATSAPP_CAPTION_LIMIT = 1024
_REPLY_BUTTONS_MAX = 3
_REPLY_TITLE_LIMIT = 20
_REPLY_ID_LIMIT = 256
_LIST_ROWS_MAX = 10
_ROW_TITLE_LIMIT = 24
_ROW_DESCRIPTION_LIMIT = 72
_ROW_ID_LIMIT = 200
_LIST_BUTTON_LABEL = "Choose"
_LIST_SECTION_TITLE = "Options"
_QUICK_REPLIES_MAX = 13
_QUICK_REPLY_TITLE_LIMIT = 20
_QUICK_REPLY_PAYLOAD_LIMIT = 1000
# Interactive messages and quick replies need some text; Rasa allows buttons without any.
_EMPTY_PROMPT = "Please choose an option."
_ELLIPSIS = "…"
_SEPARATORS = ("\n\n", "\n", " ")


@dataclass(frozen=True)
class Recipient:
    """Whom a WhatsApp send goes to: the number when WhatsApp showed one, else the
    business-scoped user id. A user id is never put in ``to``: Meta accepts it there and
    delivers nothing."""

    wa_id: str | None
    user_id: str | None = None

    def envelope(self) -> dict[str, str]:
        if self.wa_id:
            return {"to": self.wa_id}
        if self.user_id:
            return {"recipient": self.user_id}
        raise ValueError("a recipient needs a number or a user id")


def split_text(text: str, limit: int, *, measure: Callable[[str], int] = len) -> list[str]:
    """Chunks with ``measure(chunk) <= limit``, cut at a paragraph break if one fits, else a
    line break, else a space, so a long reply still reads naturally across several messages.

    A word longer than the limit is cut between code points. Whitespace around the cuts is
    dropped and empty text gives no chunks. ``measure`` must grow with the length of a prefix
    (``len`` for characters, UTF-8 length for bytes).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        chunk, rest = _take(rest, limit, measure)
        chunks.append(chunk)
    return chunks


def whatsapp_messages(
    to: Recipient,
    text: str,
    buttons: Sequence[Mapping[str, str]] = (),
    image_url: str | None = None,
) -> list[dict[str, Any]]:
    """Cloud API bodies for ``POST /<PHONE_NUMBER_ID>/messages``, to be sent in order.

    1-3 buttons become reply buttons (with the image as their header), 4-10 a list, more a
    numbered text the buyer answers by typing the number.
    """
    if len(buttons) > _LIST_ROWS_MAX:
        text, buttons = _numbered(text, buttons), ()
    if not buttons:
        contents = _whatsapp_texts_with_image(text, image_url)
    elif len(buttons) <= _REPLY_BUTTONS_MAX:
        texts, body = _texts_then_body(text)
        contents = [*map(_whatsapp_text, texts), _reply_buttons(body, buttons, image_url)]
    else:
        # A list message cannot carry an image header, so the image goes first on its own.
        texts, body = _texts_then_body(text)
        image = [_whatsapp_image(image_url)] if image_url else []
        contents = [*image, *map(_whatsapp_text, texts), _list_message(body, buttons)]
    return [{**_whatsapp_envelope(to), **content} for content in contents]


def whatsapp_contact_request(to: Recipient, text: str) -> list[dict[str, Any]]:
    """``text`` with WhatsApp's button that shares the buyer's own number with us; its answer is
    a ``contacts`` message whose origin is ``contact_request``."""
    chunks = split_text(text, WHATSAPP_TEXT_LIMIT) or [_EMPTY_PROMPT]
    tail = split_text(chunks[-1], WHATSAPP_BODY_LIMIT)
    interactive = {
        "type": "request_contact_info",
        "body": {"text": tail[-1]},
        "action": {"name": "request_contact_info"},
    }
    contents = [*map(_whatsapp_text, chunks[:-1] + tail[:-1])]
    contents.append({"type": "interactive", "interactive": interactive})
    return [{**_whatsapp_envelope(to), **content} for content in contents]


def whatsapp_authentication_template(
    to: str, template: str, language: str, code: str
) -> dict[str, Any]:
    """An authentication template carrying ``code`` in its body and copy-code button. Meta
    sends these only to a phone number (``to``); to a user id it answers 131062."""
    parameter = [{"type": "text", "text": code}]
    return {
        **_whatsapp_envelope(Recipient(wa_id=to)),
        "type": "template",
        "template": {
            "name": template,
            "language": {"code": language},
            "components": [
                {"type": "body", "parameters": parameter},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": parameter},
            ],
        },
    }


def whatsapp_template(
    to: Recipient, template: str, language: str, parameters: Sequence[str]
) -> dict[str, Any]:
    """An approved template whose body's parameters (``{{1}}``, ``{{2}}``…) are filled in order.
    Meta refuses a parameter with a line break, a tab or more than four spaces in a row (132018),
    so each is written on one line."""
    body = [{"type": "text", "text": " ".join(str(p).split()) or "-"} for p in parameters]
    components = [{"type": "body", "parameters": body}] if body else []
    return {
        **_whatsapp_envelope(to),
        "type": "template",
        "template": {"name": template, "language": {"code": language}, "components": components},
    }


def _whatsapp_envelope(to: Recipient) -> dict[str, str]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", **to.envelope()}


def instagram_messages(
    recipient_id: str,
    text: str,
    buttons: Sequence[Mapping[str, str]] = (),
    image_url: str | None = None,
) -> list[dict[str, Any]]:
    """Send API bodies for ``POST /<IG_ACCOUNT_ID>/messages``, to be sent in order.

    Up to 13 buttons become quick replies on the last text; more become a numbered text.
    """
    if len(buttons) > _QUICK_REPLIES_MAX:
        text, buttons = _numbered(text, buttons), ()
    chunks = split_text(text, INSTAGRAM_TEXT_LIMIT_BYTES, measure=_utf8_length)
    if buttons and not chunks:
        chunks = [_EMPTY_PROMPT]
    messages: list[dict[str, Any]] = [{"text": chunk} for chunk in chunks]
    if buttons:
        messages[-1]["quick_replies"] = [
            {
                "content_type": "text",
                "title": _shorten(button["title"], _QUICK_REPLY_TITLE_LIMIT),
                "payload": button["payload"][:_QUICK_REPLY_PAYLOAD_LIMIT],
            }
            for button in buttons
        ]
    if image_url:
        messages.insert(0, {"attachment": {"type": "image", "payload": {"url": image_url}}})
    return [{"recipient": {"id": recipient_id}, "message": message} for message in messages]


def _take(text: str, limit: int, measure: Callable[[str], int]) -> tuple[str, str]:
    """The first chunk of a stripped ``text`` and the stripped rest."""
    if measure(text) <= limit:
        return text, ""
    fits = _longest_fitting_prefix(text, limit, measure)
    if fits == 0:
        raise ValueError("a single character is longer than the limit")
    for separator in _SEPARATORS:
        # A separator starting at ``fits`` or before leaves a head that fits; ``text`` starts
        # with no whitespace, so a cut after position 0 never leaves an empty head.
        cut = text.rfind(separator, 0, fits + len(separator))
        if cut > 0:
            return text[:cut].rstrip(), text[cut:].lstrip()
    return text[:fits].rstrip(), text[fits:].lstrip()


def _longest_fitting_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def _utf8_length(text: str) -> int:
    return len(text.encode())


def _shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(_ELLIPSIS)].rstrip() + _ELLIPSIS


def _numbered(text: str, buttons: Sequence[Mapping[str, str]]) -> str:
    lines = "\n".join(f"{number}. {button['title']}" for number, button in enumerate(buttons, 1))
    return f"{text.strip()}\n\n{lines}" if text.strip() else lines


def _texts_then_body(text: str) -> tuple[list[str], str]:
    """Plain text messages to send first, and the last part, short enough for a body."""
    chunks = split_text(text, WHATSAPP_TEXT_LIMIT) or [_EMPTY_PROMPT]
    tail = split_text(chunks[-1], WHATSAPP_BODY_LIMIT)
    return chunks[:-1] + tail[:-1], tail[-1]


def _whatsapp_texts_with_image(text: str, image_url: str | None) -> list[dict[str, Any]]:
    if not image_url:
        return [_whatsapp_text(chunk) for chunk in split_text(text, WHATSAPP_TEXT_LIMIT)]
    caption, rest = _take(text.strip(), _WHATSAPP_CAPTION_LIMIT, len)
    texts = [_whatsapp_text(chunk) for chunk in split_text(rest, WHATSAPP_TEXT_LIMIT)]
    return [_whatsapp_image(image_url, caption), *texts]


def _whatsapp_text(chunk: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": chunk, "preview_url": False}}


def _whatsapp_image(url: str, caption: str = "") -> dict[str, Any]:
    image = {"link": url, "caption": caption} if caption else {"link": url}
    return {"type": "image", "image": image}


def _reply_buttons(
    body: str, buttons: Sequence[Mapping[str, str]], image_url: str | None
) -> dict[str, Any]:
    titles = _unique_titles([button["title"] for button in buttons], _REPLY_TITLE_LIMIT)
    header = {"header": {"type": "image", "image": {"link": image_url}}} if image_url else {}
    replies = [
        {"type": "reply", "reply": {"id": button["payload"][:_REPLY_ID_LIMIT], "title": title}}
        for button, title in zip(buttons, titles, strict=True)
    ]
    interactive = {
        "type": "button",
        **header,
        "body": {"text": body},
        "action": {"buttons": replies},
    }
    return {"type": "interactive", "interactive": interactive}


def _unique_titles(titles: Sequence[str], limit: int) -> list[str]:
    """WhatsApp rejects equal reply titles, which shortening long ones can produce."""
    unique: list[str] = []
    for title in titles:
        candidate, number = _shorten(title, limit), 1
        while candidate in unique:
            number += 1
            suffix = f" {number}"
            candidate = _shorten(title, limit - len(suffix)) + suffix
        unique.append(candidate)
    return unique


def _list_message(body: str, buttons: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    rows = []
    for button in buttons:
        title = button["title"]
        row = {"id": button["payload"][:_ROW_ID_LIMIT], "title": _shorten(title, _ROW_TITLE_LIMIT)}
        if len(title) > _ROW_TITLE_LIMIT:
            row["description"] = _shorten(title, _ROW_DESCRIPTION_LIMIT)
        rows.append(row)
    action = {
        "button": _LIST_BUTTON_LABEL,
        "sections": [{"title": _LIST_SECTION_TITLE, "rows": rows}],
    }
    return {
        "type": "interactive",
        "interactive": {"type": "list", "body": {"text": body}, "action": action},
    }
