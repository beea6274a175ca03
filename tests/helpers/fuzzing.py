"""Hypothesis strategies for webhook bodies: Meta's real payloads of every kind, mutated
structurally; free-form JSON; and bytes that are not JSON at all."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from tests.helpers.meta import (
    BUYER,
    BUYER_BSUID,
    IG_ACCOUNT_ID,
    OTHER_PHONE_NUMBER_ID,
    PHONE_NUMBER_ID,
    ig_attachment,
    ig_event,
    ig_notice,
    ig_postback,
    ig_quick_reply,
    instagram,
    wa_button_reply,
    wa_contacts,
    wa_list_reply,
    wa_location,
    wa_media,
    wa_reaction,
    wa_revoke,
    wa_status,
    wa_system,
    wa_template_button,
    wa_text,
    wa_unsupported,
    whatsapp,
)

# Strings that mean something to the parsers, the inbox, Rasa or a log line.
SPECIAL_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u200b",
    "\u202e",
    "\ufeff",
    "\r\nX-Injected: 1",
    "/affirm",
    '/confirm_order{"order_id": "ORD-7F3K9Q"}',
    "mama-put:whatsapp:2348012345678",
    "null",
    "NaN",
    "1e309",
    "-1",
    "0",
    "１７３２５５００００",
    "١٧٣٢٥٥٠٠٠٠",
    "9" * 30,
    "%s%n{0}",
    "../../etc/passwd",
    "' OR 1=1 --",
    PHONE_NUMBER_ID,
    OTHER_PHONE_NUMBER_ID,
    IG_ACCOUNT_ID,
    BUYER,
    BUYER_BSUID,
    "whatsapp_business_account",
    "instagram",
    "messages",
    "text",
    "image",
    "document",
    "interactive",
    "button",
    "button_reply",
    "list_reply",
    "system",
    "revoke",
    "reaction",
    "failed",
    "read",
]
# Lone surrogates, which json.dumps escapes (\udXXX) and json.loads gives back unpaired.
_SURROGATES = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
_LONG_TEXT = st.builds(
    lambda unit, length: unit * length,
    st.sampled_from(["x", "é", "\U0001f600", "\x00", " ", "/", "\ud83d"]),
    st.sampled_from([256, 1001, 4097, 10_000]),
)
# No "//": the only urls in a body are the Graph API double's, so no test traffic leaves loopback.
ADVERSARIAL_TEXT = st.one_of(
    st.sampled_from(SPECIAL_TEXT),
    st.text(max_size=20).filter(lambda text: "//" not in text),
    _SURROGATES,
    _LONG_TEXT,
)
_ODD_NUMBERS = st.sampled_from(
    [0, -1, 1, 2**31, 2**63, 2**64, 10**16, 10**30, -(10**30), 10**4000, 1e308, -0.0, 0.5]
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    _ODD_NUMBERS,
    st.floats(),
    ADVERSARIAL_TEXT,
)
KEYS = st.one_of(
    st.sampled_from(
        [
            "object",
            "entry",
            "id",
            "changes",
            "field",
            "value",
            "metadata",
            "phone_number_id",
            "contacts",
            "wa_id",
            "profile",
            "name",
            "messages",
            "statuses",
            "errors",
            "code",
            "from",
            "timestamp",
            "type",
            "text",
            "body",
            "image",
            "interactive",
            "button_reply",
            "messaging",
            "sender",
            "recipient",
            "message",
            "mid",
            "postback",
            "quick_reply",
            "payload",
            "is_echo",
            "attachments",
            "url",
            "read",
        ]
    ),
    st.text(max_size=8),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=8,
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _nested(value: Any, depth: int) -> Any:
    for level in range(depth):
        value = [value] if level % 2 else {"value": value}
    return value


# Deep, but shallow enough for json.dumps; bytes_not_json holds the truly deep ones.
_DEEP = st.builds(_nested, JSON_SCALARS, st.integers(min_value=20, max_value=400))


# Where changes land: Meta's fields are at most 9 levels down, and the first copies of a list
# stand for the rest (walking every copy of a list repeated 30 times costs more than it finds).
_DEEPEST = 12
_FIRST_ITEMS = 8
_CHANGES = st.sampled_from(["delete", "replace", "deep", "text", "empty", "multiply"])


def _positions(document: Any, depth: int = 0) -> Iterator[tuple[Any, Any]]:
    """(container, key or index) of the values inside ``document``, down to ``_DEEPEST``."""
    if depth > _DEEPEST:
        return
    keys = list(document) if isinstance(document, dict) else range(len(document))
    for key in keys[:_FIRST_ITEMS] if isinstance(document, list) else keys:
        yield document, key
        if isinstance(document[key], (dict, list)):
            yield from _positions(document[key], depth + 1)


@st.composite
def mutated(draw: st.DrawFn, payloads: st.SearchStrategy[Any]) -> Any:
    """A real payload with up to four structural changes: a field deleted, replaced by a value of
    another JSON type (deeply nested, say), a string by adversarial text, a list emptied or
    multiplied. No change at all is a case too: the payload as Meta sends it."""
    document = copy.deepcopy(draw(payloads))  # the builders may share parts between payloads
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        spots = list(_positions(document))
        if not spots:
            break
        container, key = spots[draw(st.integers(min_value=0, max_value=len(spots) - 1))]
        value = container[key]
        change = draw(_CHANGES)
        if change == "delete":
            del container[key]
        elif change == "replace":
            container[key] = draw(JSON_VALUES)
        elif change == "deep":
            container[key] = draw(_DEEP)
        elif change == "text" or not isinstance(value, (dict, list)):
            container[key] = draw(ADVERSARIAL_TEXT)
        elif change == "empty":
            container[key] = type(value)()
        else:
            times = draw(st.integers(min_value=2, max_value=30))
            items = value if isinstance(value, list) else [value]
            container[key] = [copy.deepcopy(item) for item in items * times]
    return document


# What buyers type, and the special strings: one draw each, where generated text costs one per
# character. Mutations put generated text anywhere.
_BUYER_TEXT = st.sampled_from(
    ["hi", "confirm ORD-7F3K9Q", "verify K7#M@P2Q", "where is my order", *SPECIAL_TEXT]
)
# Media the Graph API double does not have. A receipt it has is downloaded and stored in S3
# (moto), the slowest thing a body can cause: one media in four is such a receipt.
_GONE = ["404404", "404405", "404406"]


def whatsapp_payloads(media_id: str, our_message_ids: list[str]) -> st.SearchStrategy[dict]:
    """WhatsApp Cloud API payloads of every kind: buyers' messages, WhatsApp's notices, and the
    statuses of ``our_message_ids`` (and of unknown messages) with and without errors."""
    text = _BUYER_TEXT
    sender = st.sampled_from([BUYER, "2348099990000"])
    media = st.builds(
        wa_media,
        st.sampled_from(["image", "document", "sticker", "audio", "video"]),
        st.sampled_from([media_id, *_GONE]),
        st.sampled_from(["image/jpeg", "application/pdf", "image/webp", "audio/ogg"]),
        sender=sender,
    )
    message = st.one_of(
        st.builds(wa_text, text, sender=sender),
        st.builds(wa_button_reply, text, text, sender=sender),
        st.builds(wa_list_reply, text, text, sender=sender),
        st.builds(wa_template_button, text, text, sender=sender),
        media,
        st.builds(wa_location, sender=sender),
        st.builds(wa_contacts, sender=sender),
        st.builds(wa_reaction, st.sampled_from(our_message_ids), sender=sender),
        st.builds(wa_unsupported, sender=sender),
        st.builds(
            wa_system,
            st.just("user_changed_number"),
            phone=sender,
            previous_user_id=st.just(BUYER_BSUID),
            wa_id=st.just("2348055550000"),
        ),
        st.builds(wa_revoke, st.just("wamid.EARLIER"), sender=sender),
    )
    status = st.builds(
        wa_status,
        st.sampled_from([*our_message_ids, "wamid.NOT-OURS"]),
        st.sampled_from(["sent", "delivered", "read", "failed"]),
        st.none() | st.sampled_from([131047, 131026, 130429]) | _ODD_NUMBERS.filter(_is_int),
    )
    return st.builds(
        whatsapp,
        st.lists(message, max_size=2),
        st.lists(status, max_size=2),
        st.sampled_from([PHONE_NUMBER_ID, OTHER_PHONE_NUMBER_ID, "106540352240000"]),
    )


_IG_NOTICES = {
    "read": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEread"},
    "delivery": {"mids": ["aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEdlvr"], "watermark": 1732550000000},
    "reaction": {"mid": "aWdfZAG1fa", "action": "react", "reaction": "love", "emoji": "\u2764"},
    "messaging_seen": {"watermark": 1732550000000},
}


def instagram_payloads(attachment_url: str) -> st.SearchStrategy[dict]:
    """Instagram Messaging payloads of every kind: texts, quick replies, postbacks, attachments
    (``attachment_url`` and urls of files that are gone), echoes of the shop's sends, deletions,
    reads, deliveries and reactions."""
    text = _BUYER_TEXT
    sender = st.sampled_from(["IGSID-1", "IGSID-2"])
    files = attachment_url.rsplit("/", 1)[0]
    event = st.one_of(
        st.builds(ig_event, st.fixed_dictionaries({"text": text}), sender=sender),
        st.builds(ig_quick_reply, text, text, sender=sender),
        st.builds(ig_postback, text, text, sender=sender),
        st.builds(
            ig_attachment,
            st.sampled_from(["image", "file", "video", "audio", "share", "story_mention"]),
            st.sampled_from([attachment_url, *(f"{files}/{gone}" for gone in _GONE)]),
            sender=sender,
        ),
        st.builds(
            ig_event, st.fixed_dictionaries({"text": text}), sender=sender, echo=st.just(True)
        ),
        st.builds(ig_event, st.just({"is_deleted": True}), sender=sender),
        st.sampled_from(sorted(_IG_NOTICES)).map(lambda key: ig_notice(key, _IG_NOTICES[key])),
    )
    return st.builds(
        instagram,
        st.lists(event, max_size=2),
        st.sampled_from([IG_ACCOUNT_ID, "17841400000000999"]),
    )


def free_json(platform_object: str) -> st.SearchStrategy[Any]:
    """Any JSON value, and objects that claim to be the platform's with anything inside."""
    return JSON_VALUES | st.fixed_dictionaries(
        {"object": st.just(platform_object) | ADVERSARIAL_TEXT, "entry": JSON_VALUES}
    )


_NOT_JSON = [
    b"",
    b"{",
    b'{"object": "whatsapp_business_account", "entry": [',
    b"[" * 100_000,
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b"\xff\xfe\xfd",
    b'"\xed\xa0\x80"',
    b"\xef\xbb\xbf{}",
    b"NaN",
    b"-Infinity",
    b"1" * 5_000,
    b"\x00" * 64,
    b"<xml/>",
]


def bytes_not_json(payloads: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Bytes that are not JSON, or JSON as Meta never encodes it (UTF-16, a byte order mark),
    or a real payload cut short."""
    encoded = payloads.map(lambda payload: json.dumps(payload).encode())
    return st.one_of(
        st.binary(max_size=200),
        st.sampled_from(_NOT_JSON),
        payloads.map(lambda payload: json.dumps(payload).encode("utf-16")),
        st.builds(lambda body, cut: body[: len(body) * cut // 100], encoded, st.integers(0, 99)),
    )


def bodies(payloads: st.SearchStrategy[Any], platform_object: str) -> st.SearchStrategy[bytes]:
    """What a signed webhook may carry: mutated real payloads (most), free-form JSON, bytes."""
    return st.one_of(
        mutated(payloads).map(_encoded),
        mutated(payloads).map(_encoded),
        mutated(payloads).map(_encoded),
        free_json(platform_object).map(_encoded),
        bytes_not_json(payloads),
    )


def _encoded(document: Any) -> bytes:
    return json.dumps(document).encode()
