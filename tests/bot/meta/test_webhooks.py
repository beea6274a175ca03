"""Webhook parsing: Meta's documented payloads become typed messages and statuses; echoes,
receipts and reactions are dropped; malformed pieces are skipped with one warning each, and
no JSON value whatsoever makes a parser raise."""

import copy
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bot.meta.webhooks import (
    IdentityChange,
    InboundMessage,
    Media,
    SharedContact,
    StatusUpdate,
    WhatsAppUser,
    parse_instagram,
    parse_whatsapp,
)

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
BUYER = "2348012345678"
IG_ACCOUNT = "17841400000012345"
IGSID = "6574321987654321"
WA_TIMESTAMP = "1732550000"
IG_TIMESTAMP = 1732550000123


def wa_message(message_type: str, content: Any = None, **extra: Any) -> dict[str, Any]:
    message = {"from": BUYER, "id": f"wamid.{message_type}", "timestamp": WA_TIMESTAMP}
    message["type"] = message_type
    if content is not None:
        message[message_type] = content
    return {**message, **extra}


def wa_change(
    messages=(), statuses=(), phone_number_id=PHONE_NUMBER_ID, contacts=None
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "2348000000000", "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = contacts or [{"profile": {"name": "Ada"}, "wa_id": BUYER}]
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return {"field": "messages", "value": value}


def wa_payload(*changes: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": list(changes)}],
    }


def wa_status(status: str, message_id: str = "wamid.OURS", **extra: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "status": status,
        "timestamp": WA_TIMESTAMP,
        "recipient_id": BUYER,
        **extra,
    }


def ig_event(**event: Any) -> dict[str, Any]:
    return {
        "sender": {"id": IGSID},
        "recipient": {"id": IG_ACCOUNT},
        "timestamp": IG_TIMESTAMP,
        **event,
    }


def ig_payload(*events: dict[str, Any], entry_id: str = IG_ACCOUNT) -> dict[str, Any]:
    return {
        "object": "instagram",
        "entry": [{"id": entry_id, "time": IG_TIMESTAMP, "messaging": list(events)}],
    }


def only_message(parsed: tuple[list[InboundMessage], list[StatusUpdate]]) -> InboundMessage:
    messages, statuses = parsed
    assert statuses == []
    assert len(messages) == 1
    return messages[0]


# Text, on both platforms


@pytest.mark.parametrize(
    ("parse", "payload", "expected"),
    [
        (
            parse_whatsapp,
            wa_payload(wa_change([wa_message("text", {"body": "hello"})])),
            InboundMessage(
                channel="whatsapp",
                account_id=PHONE_NUMBER_ID,
                sender=BUYER,
                message_id="wamid.text",
                timestamp=1732550000.0,
                kind="text",
                original_type="text",
                text="hello",
                sender_name="Ada",
                whatsapp=WhatsAppUser(wa_id=BUYER, user_id=None),
            ),
        ),
        (
            parse_instagram,
            ig_payload(ig_event(message={"mid": "aWdfZAG1faWQ", "text": "hi"})),
            InboundMessage(
                channel="instagram",
                account_id=IG_ACCOUNT,
                sender=IGSID,
                message_id="aWdfZAG1faWQ",
                timestamp=1732550000.123,
                kind="text",
                original_type="text",
                text="hi",
            ),
        ),
    ],
    ids=["whatsapp", "instagram"],
)
def test_a_text_message_is_read_in_full(parse, payload, expected):
    assert only_message(parse(payload)) == expected


# WhatsApp messages


@pytest.mark.parametrize("reply_type", ["button_reply", "list_reply"])
def test_whatsapp_interactive_reply_is_a_button(reply_type):
    reply = {"id": "/choose_order", "title": "My orders"}
    if reply_type == "list_reply":
        reply["description"] = "See every order"
    message = wa_message("interactive", {"type": reply_type, reply_type: reply})
    parsed = only_message(parse_whatsapp(wa_payload(wa_change([message]))))
    assert (parsed.kind, parsed.original_type) == ("button", "interactive")
    assert (parsed.text, parsed.title) == ("/choose_order", "My orders")


def test_whatsapp_template_quick_reply_is_a_button():
    message = wa_message("button", {"payload": "CONFIRM_ORDER", "text": "Confirm"})
    parsed = only_message(parse_whatsapp(wa_payload(wa_change([message]))))
    assert (parsed.kind, parsed.original_type) == ("button", "button")
    assert (parsed.text, parsed.title) == ("CONFIRM_ORDER", "Confirm")


def test_whatsapp_image_with_caption():
    image = {
        "caption": "my transfer receipt",
        "mime_type": "image/jpeg",
        "sha256": "Zm9vYmFy",
        "id": "1479537139650973",
    }
    parsed = only_message(parse_whatsapp(wa_payload(wa_change([wa_message("image", image)]))))
    assert (parsed.kind, parsed.original_type, parsed.text) == (
        "media",
        "image",
        "my transfer receipt",
    )
    assert parsed.media == Media(
        id="1479537139650973",
        url=None,
        mime_type="image/jpeg",
        sha256="Zm9vYmFy",
    )


def test_whatsapp_document_without_caption():
    document = {
        "filename": "receipt.pdf",
        "mime_type": "application/pdf",
        "sha256": "YmFyYmF6",
        "id": "889900112233",
    }
    message = wa_message("document", document)
    parsed = only_message(parse_whatsapp(wa_payload(wa_change([message]))))
    assert (parsed.kind, parsed.original_type, parsed.text) == ("media", "document", None)
    assert parsed.media == Media(
        id="889900112233",
        url=None,
        mime_type="application/pdf",
        sha256="YmFyYmF6",
    )


@pytest.mark.parametrize(
    ("message_type", "content"),
    [
        ("reaction", {"message_id": "wamid.OURS", "emoji": "\U0001f44d"}),
        ("location", {"latitude": 6.4541, "longitude": 3.3947, "name": "Balogun Market"}),
        ("sticker", {"mime_type": "image/webp", "sha256": "c3RpY2tlcg==", "id": "5566"}),
        ("audio", {"mime_type": "audio/ogg; codecs=opus", "sha256": "YXVkaW8=", "id": "7788"}),
        ("video", {"mime_type": "video/mp4", "sha256": "dmlkZW8=", "id": "9900"}),
        ("unsupported", None),
        ("interactive", {"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}),
    ],
)
def test_whatsapp_types_the_bot_cannot_read_are_unsupported(message_type, content):
    extra = {}
    if message_type == "unsupported":
        extra["errors"] = [{"code": 131051, "title": "Message type unknown"}]
    message = wa_message(message_type, content, **extra)
    parsed = only_message(parse_whatsapp(wa_payload(wa_change([message]))))
    assert (parsed.kind, parsed.original_type) == ("unsupported", message_type)
    assert (parsed.text, parsed.title, parsed.media) == (None, None, None)
    assert (parsed.message_id, parsed.sender) == (f"wamid.{message_type}", BUYER)


@pytest.mark.parametrize(
    ("message_type", "content"),
    [
        ("system", {"body": "customer changed number", "type": "user_changed_number"}),
        ("revoke", {"original_message_id": "wamid.EARLIER"}),
    ],
)
def test_whatsapp_notices_about_the_buyer_are_never_answered(message_type, content, caplog):
    """A changed number or a deleted message is not something the buyer said: read (a changed
    number re-keys the buyer), never answered."""
    message = wa_message(message_type, content)
    assert not only_message(parse_whatsapp(wa_payload(wa_change([message])))).answered
    assert caplog.records == []


def test_whatsapp_sender_name_is_matched_by_wa_id():
    other = "2348099999999"
    contacts = [
        {"profile": {"name": "Bola"}, "wa_id": other},
        {"profile": {"name": "Ada"}, "wa_id": BUYER},
    ]
    messages = [
        wa_message("text", {"body": "one"}),
        {**wa_message("text", {"body": "two"}), "from": other, "id": "wamid.two"},
        {**wa_message("text", {"body": "three"}), "from": "2348011111111", "id": "wamid.three"},
    ]
    parsed, _ = parse_whatsapp(wa_payload(wa_change(messages, contacts=contacts)))
    assert [message.sender_name for message in parsed] == ["Ada", "Bola", None]


def test_whatsapp_batch_keeps_every_entry_change_message_and_status_in_order():
    second_number = "109999999999999"
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    wa_change(
                        [
                            {**wa_message("text", {"body": "a"}), "id": "wamid.1"},
                            {**wa_message("text", {"body": "b"}), "id": "wamid.2"},
                        ],
                        [wa_status("sent", "wamid.S1")],
                    ),
                    {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
                    wa_change([{**wa_message("text", {"body": "c"}), "id": "wamid.3"}]),
                ],
            },
            {
                "id": "102290129349999",
                "changes": [
                    wa_change(
                        [{**wa_message("text", {"body": "d"}), "id": "wamid.4"}],
                        [wa_status("delivered", "wamid.S1"), wa_status("read", "wamid.S1")],
                        phone_number_id=second_number,
                    )
                ],
            },
        ],
    }
    messages, statuses = parse_whatsapp(payload)
    assert [(m.message_id, m.text, m.account_id) for m in messages] == [
        ("wamid.1", "a", PHONE_NUMBER_ID),
        ("wamid.2", "b", PHONE_NUMBER_ID),
        ("wamid.3", "c", PHONE_NUMBER_ID),
        ("wamid.4", "d", second_number),
    ]
    assert [(s.status, s.account_id) for s in statuses] == [
        ("sent", PHONE_NUMBER_ID),
        ("delivered", second_number),
        ("read", second_number),
    ]


@pytest.mark.parametrize("status", ["sent", "delivered", "read"])
def test_whatsapp_status_updates(status):
    item = wa_status(
        status,
        conversation={"id": "CONVERSATION_ID", "origin": {"type": "service"}},
        pricing={"billable": False, "pricing_model": "CBP", "category": "service"},
    )
    messages, statuses = parse_whatsapp(wa_payload(wa_change(statuses=[item])))
    assert messages == []
    assert statuses == [
        StatusUpdate(
            channel="whatsapp",
            account_id=PHONE_NUMBER_ID,
            message_id="wamid.OURS",
            status=status,
            timestamp=1732550000.0,
            errors=(),
        )
    ]


def test_whatsapp_failed_status_carries_its_errors():
    errors = [
        {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "Message failed to send because more than 24 hours..."},
        }
    ]
    item = wa_status("failed", errors=errors)
    _, statuses = parse_whatsapp(wa_payload(wa_change(statuses=[item])))
    assert [(s.status, s.errors) for s in statuses] == [
        ("failed", ((131047, "Re-engagement message"),))
    ]


def test_whatsapp_status_error_without_code_or_title_is_kept():
    item = wa_status("failed", errors=[{"message": "Something went wrong"}, {}, "junk"])
    _, statuses = parse_whatsapp(wa_payload(wa_change(statuses=[item])))
    assert statuses[0].errors == ((None, "Something went wrong"), (None, ""))


# Instagram


def test_instagram_quick_reply_is_a_button():
    message = {"mid": "aWdf.qr", "text": "My orders", "quick_reply": {"payload": "/my_orders"}}
    parsed = only_message(parse_instagram(ig_payload(ig_event(message=message))))
    assert (parsed.kind, parsed.original_type) == ("button", "quick_reply")
    assert (parsed.text, parsed.title, parsed.message_id) == ("/my_orders", "My orders", "aWdf.qr")


def test_instagram_postback_is_a_button():
    postback = {"mid": "aWdf.pb", "title": "Track order", "payload": "/track_order"}
    parsed = only_message(parse_instagram(ig_payload(ig_event(postback=postback))))
    assert (parsed.kind, parsed.original_type) == ("button", "postback")
    assert (parsed.text, parsed.title, parsed.message_id) == (
        "/track_order",
        "Track order",
        "aWdf.pb",
    )


@pytest.mark.parametrize("attachment_type", ["image", "file"])
def test_instagram_image_or_file_attachment_is_media(attachment_type):
    url = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=123&signature=abc"
    message = {
        "mid": "aWdf.media",
        "attachments": [
            {"type": attachment_type, "payload": {"url": url}},
            {"type": "image", "payload": {"url": url + "&second"}},
        ],
    }
    parsed = only_message(parse_instagram(ig_payload(ig_event(message=message))))
    assert (parsed.kind, parsed.original_type) == ("media", f"attachment:{attachment_type}")
    assert parsed.message_id == "aWdf.media"
    assert parsed.media == Media(id=None, url=url, mime_type=None, sha256=None)


@pytest.mark.parametrize(
    "attachment_type", ["audio", "video", "share", "story_mention", "ig_reel", "reel"]
)
def test_instagram_other_attachments_are_unsupported(attachment_type):
    message = {
        "mid": "aWdf.other",
        "attachments": [{"type": attachment_type, "payload": {"url": "https://cdn/x"}}],
    }
    parsed = only_message(parse_instagram(ig_payload(ig_event(message=message))))
    assert (parsed.kind, parsed.original_type) == ("unsupported", f"attachment:{attachment_type}")
    assert parsed.media is None


def test_instagram_unsupported_message():
    message = {"mid": "aWdf.gif", "is_unsupported": True}
    parsed = only_message(parse_instagram(ig_payload(ig_event(message=message))))
    assert (parsed.kind, parsed.original_type) == ("unsupported", "unsupported")


@pytest.mark.parametrize(
    "event",
    [
        ig_event(message={"mid": "aWdf.echo", "text": "our own reply", "is_echo": True}),
        ig_event(message={"mid": "aWdf.deleted", "is_deleted": True}),
        ig_event(read={"mid": "aWdf.ours"}),
        ig_event(messaging_seen={"mid": "aWdf.ours"}),
        ig_event(delivery={"mids": ["aWdf.ours"], "watermark": IG_TIMESTAMP}),
        ig_event(reaction={"mid": "aWdf.ours", "action": "react", "reaction": "love"}),
        ig_event(reaction={"mid": "aWdf.ours", "action": "unreact"}),
        ig_event(referral={"ref": "ad", "source": "ADS", "type": "OPEN_THREAD"}),
    ],
)
def test_instagram_echoes_receipts_and_reactions_are_dropped(event, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.meta.webhooks"):
        assert parse_instagram(ig_payload(event)) == ([], [])
    assert caplog.records == []


def test_instagram_account_falls_back_to_the_entry_id():
    event = ig_event(message={"mid": "aWdf.x", "text": "hi"})
    del event["recipient"]
    assert only_message(parse_instagram(ig_payload(event))).account_id == IG_ACCOUNT


UNSTORABLE_IDS = ["234\x00801", "\ud800", "2348 0123", "wamid.\u00e9"]


@pytest.mark.parametrize(
    ("field", "value"),
    [*(("from", value) for value in UNSTORABLE_IDS), ("from", "9" * 161), ("id", "w" * 256)],
)
def test_whatsapp_ids_no_database_could_store_are_malformed(field, value):
    """Meta's ids are printable ASCII: a NUL, a lone surrogate or an id longer than its inbox
    column would fail the whole webhook's transaction (a 5xx), and Meta would send it again."""
    message = wa_message("text", {"body": "x"}, **{field: value})
    assert parse_whatsapp(wa_payload(wa_change([message]))) == ([], [])
    other_number = wa_change([wa_message("text", {"body": "x"})], phone_number_id="1" * 65)
    assert parse_whatsapp(wa_payload(other_number)) == ([], [])


@pytest.mark.parametrize("value", [*UNSTORABLE_IDS, "1" * 161])
def test_instagram_ids_no_database_could_store_are_malformed(value):
    assert parse_instagram(ig_payload(ig_event(sender={"id": value}, message={"mid": "m"}))) == (
        [],
        [],
    )
    message = {"mid": value + "x" * 255, "text": "hi"}
    assert parse_instagram(ig_payload(ig_event(message=message))) == ([], [])
    unknown_account = ig_event(recipient={"id": value}, message={"mid": "m", "text": "hi"})
    assert parse_instagram(ig_payload(unknown_account, entry_id=value)) == ([], [])


def test_the_longest_ids_the_inbox_holds_are_read():
    message = wa_message("text", {"body": "x"}, **{"from": "9" * 160, "id": "w" * 255})
    change = wa_change([message], phone_number_id="1" * 64)
    parsed = only_message(parse_whatsapp(wa_payload(change)))
    assert (len(parsed.account_id), len(parsed.sender), len(parsed.message_id)) == (64, 160, 255)


def test_text_keeps_no_nul_nor_unpaired_surrogate():
    """JSON escapes can carry both; no database or UTF-8 encoder takes them. A surrogate pair is
    one character once decoded, and stays."""
    body = json.loads('"a\\u0000b\\ud800c\\ud83d\\ude00"')
    message = wa_message("text", {"body": body})
    assert only_message(parse_whatsapp(wa_payload(wa_change([message])))).text == (
        "a\ufffdb\ufffdc\U0001f600"
    )


def test_instagram_batch_keeps_every_entry_and_event():
    payload = ig_payload(
        ig_event(message={"mid": "m1", "text": "one"}),
        ig_event(message={"mid": "m2", "text": "mine", "is_echo": True}),
        ig_event(message={"mid": "m3", "text": "three"}),
    )
    payload["entry"].append(
        {"id": "17841400000099999", "messaging": [ig_event(postback={"mid": "m4", "payload": "p"})]}
    )
    messages, _ = parse_instagram(payload)
    assert [m.message_id for m in messages] == ["m1", "m3", "m4"]


# Wrong objects and malformed pieces


def test_payloads_for_the_other_platform_are_ignored():
    whatsapp = wa_payload(wa_change([wa_message("text", {"body": "hello"})]))
    instagram = ig_payload(ig_event(message={"mid": "m1", "text": "hi"}))
    assert parse_instagram(whatsapp) == ([], [])
    assert parse_whatsapp(instagram) == ([], [])
    assert parse_whatsapp({**whatsapp, "object": "page"}) == ([], [])
    assert parse_instagram({**instagram, "object": "page"}) == ([], [])


def test_one_malformed_message_is_skipped_with_one_warning_and_no_personal_data(caplog):
    good = wa_message("text", {"body": "hello"})
    missing_id = {
        k: v for k, v in wa_message("text", {"body": "secret words"}).items() if k != "id"
    }
    with caplog.at_level(logging.WARNING, logger="bot.meta.webhooks"):
        messages, _ = parse_whatsapp(wa_payload(wa_change([missing_id, good])))
    assert [m.message_id for m in messages] == ["wamid.text"]
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.levelno == logging.WARNING
    assert (record.channel, record.skipped, record.reason) == (
        "whatsapp",
        "messages",
        "id is missing or not an id",
    )
    logged = str(vars(record))
    assert BUYER not in logged
    assert "secret words" not in logged


@pytest.mark.parametrize(
    ("parse", "payload", "kept"),
    [
        (parse_whatsapp, wa_payload(wa_change([wa_message("image", {"mime_type": "x"})])), 0),
        (parse_whatsapp, wa_payload(wa_change([{**wa_message("text", {}), "id": "w"}])), 0),
        (parse_whatsapp, wa_payload(wa_change([wa_message("text", {"body": "x"})], [{}])), 1),
        (parse_whatsapp, wa_payload(wa_change([wa_message("text", {"body": "x"})], "x")), 1),
        (parse_whatsapp, wa_payload(wa_change([wa_message("text", {"body": "x"}), 7])), 1),
        (parse_whatsapp, wa_payload(wa_change([wa_message("text", "x")], phone_number_id=1)), 0),
        (parse_whatsapp, wa_payload(wa_change([{**wa_message("button", {}), "id": "w"}])), 0),
        (parse_instagram, ig_payload(ig_event(message={"text": "no mid"})), 0),
        (parse_instagram, ig_payload(ig_event(postback={"mid": "m", "title": "no payload"})), 0),
        (parse_instagram, ig_payload(ig_event(message={"mid": "m", "attachments": []})), 0),
        (parse_instagram, ig_payload(ig_event(message={"mid": "m", "quick_reply": {}})), 0),
        (parse_instagram, ig_payload(ig_event(message="hi")), 0),
        (parse_instagram, ig_payload({"message": {"mid": "m", "text": "no sender"}}), 0),
        (parse_instagram, {"object": "instagram", "entry": [{"messaging": "x"}]}, 0),
    ],
)
def test_each_malformed_piece_gives_exactly_one_warning(parse, payload, kept, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.meta.webhooks"):
        messages, statuses = parse(payload)
    assert len(messages) + len(statuses) == kept
    assert len(caplog.records) == 1


@pytest.mark.parametrize(
    "timestamp", [None, "", "soon", "1.5e9", "-1", "١٧٣٢٥٥٠٠٠٠", 10**400, float("nan"), True]
)
def test_invalid_timestamps_are_malformed(timestamp):
    message = wa_message("text", {"body": "x"}, timestamp=timestamp)
    assert parse_whatsapp(wa_payload(wa_change([message]))) == ([], [])


@pytest.mark.parametrize("timestamp", ["99999999999999", 253402300800])
def test_timestamps_past_the_year_9999_are_malformed(timestamp):
    """The inbox stores a datetime, which ends with the year 9999."""
    message = wa_message("text", {"body": "x"}, timestamp=timestamp)
    assert parse_whatsapp(wa_payload(wa_change([message]))) == ([], [])
    event = {**ig_event(message={"mid": "m", "text": "x"}), "timestamp": 10**15}
    assert parse_instagram(ig_payload(event)) == ([], [])


def test_numeric_whatsapp_timestamp_is_accepted():
    message = wa_message("text", {"body": "x"}, timestamp=1732550000)
    assert only_message(parse_whatsapp(wa_payload(wa_change([message])))).timestamp == 1732550000


ODD_VALUES = [
    None,
    True,
    0,
    -1,
    1.5,
    10**400,
    float("nan"),
    float("inf"),
    "",
    "x",
    "١٢٣",
    [],
    [None],
    ["x", 1],
    {},
    {"id": 5},
]


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
@pytest.mark.parametrize("parse", [parse_whatsapp, parse_instagram])
def test_any_json_value_as_the_payload_gives_empty_lists(parse, value):
    assert parse(value) == ([], [])


def full_whatsapp_payload() -> dict[str, Any]:
    messages = [
        wa_message("text", {"body": "hello"}, context={"from": BUYER, "id": "wamid.OURS"}),
        wa_message(
            "interactive", {"type": "button_reply", "button_reply": {"id": "i", "title": "t"}}
        ),
        wa_message("button", {"payload": "p", "text": "t"}),
        wa_message("image", {"id": "1", "mime_type": "image/jpeg", "sha256": "s", "caption": "c"}),
        wa_message("document", {"id": "2", "filename": "f.pdf", "mime_type": "application/pdf"}),
        wa_message("reaction", {"message_id": "wamid.OURS", "emoji": "x"}),
    ]
    statuses = [wa_status("failed", errors=[{"code": 131047, "title": "Re-engagement message"}])]
    return wa_payload(wa_change(messages, statuses))


def full_instagram_payload() -> dict[str, Any]:
    return ig_payload(
        ig_event(message={"mid": "m1", "text": "hi"}),
        ig_event(message={"mid": "m2", "text": "t", "quick_reply": {"payload": "p"}}),
        ig_event(postback={"mid": "m3", "title": "t", "payload": "p"}),
        ig_event(
            message={"mid": "m4", "attachments": [{"type": "image", "payload": {"url": "u"}}]}
        ),
        ig_event(message={"mid": "m5", "text": "mine", "is_echo": True}),
        ig_event(read={"mid": "m1"}),
    )


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position in a JSON document, as the keys and indexes leading to it."""
    yield prefix
    if isinstance(value, (dict, list)):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            yield from paths(item, (*prefix, key))


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    document = copy.deepcopy(document)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("parse", "document"),
    [(parse_whatsapp, full_whatsapp_payload()), (parse_instagram, full_instagram_payload())],
    ids=["whatsapp", "instagram"],
)
def test_any_odd_value_anywhere_in_a_payload_never_raises_nor_logs_personal_data(
    parse, document, caplog
):
    """Every position of a valid payload, replaced in turn by every odd JSON value."""
    caplog.set_level(logging.WARNING, logger="bot.meta.webhooks")
    for path in paths(document):
        for value in ODD_VALUES:
            messages, statuses = parse(replaced(document, path, value))
            assert all(isinstance(message, InboundMessage) for message in messages)
            assert all(isinstance(status, StatusUpdate) for status in statuses)
            for message in messages:
                assert isinstance(message.timestamp, float)
                assert message.kind in {"text", "button", "media", "unsupported"}
    logged = " ".join(str(vars(record)) for record in caplog.records)
    assert caplog.records
    assert BUYER not in logged
    assert IGSID not in logged
    assert "hello" not in logged


def test_a_message_stored_by_an_older_release_is_still_read():
    """Rows acknowledged before an upgrade are processed after it, with fields since dropped."""
    image = {"caption": "paid", "mime_type": "image/jpeg", "sha256": "Zm9v", "id": "14795"}
    parsed = only_message(parse_whatsapp(wa_payload(wa_change([wa_message("image", image)]))))
    stored = parsed.to_json()
    stored["context_id"] = "wamid.OURS"
    stored["media"] = {**stored["media"], "caption": "paid", "filename": None}
    assert InboundMessage.from_json(stored) == parsed


# WhatsApp usernames and business-scoped user ids (Meta, "Business-scoped user IDs", 2026)

BSUID = "NG.8462019375510"
PARENT_BSUID = "NG.ENT.11815799212886844830"


def bsuid_contact(*, wa_id: str | None = BUYER, username: str | None = None) -> dict:
    """A ``contacts[]`` entry as Meta sends it since April 2026: the user id always, the number
    only when the user shows it, the username when they have one."""
    profile: dict[str, Any] = {"name": "Ada"}
    if username is not None:
        profile["username"] = username
    contact: dict[str, Any] = {"profile": profile, "user_id": BSUID}
    if wa_id is not None:
        contact["wa_id"] = wa_id
    return contact


def bsuid_text(*, phone: bool = True, **extra: Any) -> dict[str, Any]:
    message = wa_message("text", {"body": "hello"}, from_user_id=BSUID, **extra)
    if not phone:
        del message["from"]
    return message


def test_a_message_with_phone_and_user_id_carries_both():
    payload = wa_payload(wa_change([bsuid_text()], contacts=[bsuid_contact()]))
    message = only_message(parse_whatsapp(payload))
    assert message.sender == BUYER
    assert message.whatsapp == WhatsAppUser(wa_id=BUYER, user_id=BSUID)
    assert message.sender_name == "Ada"


def test_a_username_user_without_a_phone_is_known_by_the_user_id():
    """``from`` and ``wa_id`` are absent (not empty) for a username user the shop has not
    messaged in 30 days: the message is still read, and addressed by the user id."""
    contact = bsuid_contact(wa_id=None, username="ada.buys")
    payload = wa_payload(wa_change([bsuid_text(phone=False)], contacts=[contact]))
    message = only_message(parse_whatsapp(payload))
    assert (message.sender, message.kind, message.text) == (BSUID, "text", "hello")
    assert message.whatsapp == WhatsAppUser(wa_id=None, user_id=BSUID, username="ada.buys")
    assert message.answered


def test_a_username_user_who_shows_their_phone_has_all_three():
    contact = bsuid_contact(username="ada.buys")
    payload = wa_payload(wa_change([bsuid_text()], contacts=[contact]))
    message = only_message(parse_whatsapp(payload))
    assert message.whatsapp == WhatsAppUser(wa_id=BUYER, user_id=BSUID, username="ada.buys")


def test_parent_user_ids_of_managed_businesses_are_read():
    contact = {**bsuid_contact(wa_id=None), "parent_user_id": PARENT_BSUID}
    message = bsuid_text(phone=False, from_parent_user_id=PARENT_BSUID)
    parsed = only_message(parse_whatsapp(wa_payload(wa_change([message], contacts=[contact]))))
    assert parsed.whatsapp == WhatsAppUser(wa_id=None, user_id=BSUID, parent_user_id=PARENT_BSUID)


def test_the_user_id_may_come_from_the_contact_alone():
    payload = wa_payload(
        wa_change([wa_message("text", {"body": "hi"})], contacts=[bsuid_contact()])
    )
    assert only_message(parse_whatsapp(payload)).whatsapp == WhatsAppUser(BUYER, BSUID)


def test_a_message_with_neither_phone_nor_user_id_is_skipped(caplog):
    message = wa_message("text", {"body": "hello"})
    del message["from"]
    messages, _ = parse_whatsapp(wa_payload(wa_change([message], contacts=[{"profile": {}}])))
    assert messages == []
    assert [r.reason for r in caplog.records] == ["from and from_user_id are missing"]


@pytest.mark.parametrize("number", [BSUID, "+2348012345678", "234 801 234 5678", "٢٣٤٨٠١"])
def test_a_from_or_wa_id_that_is_no_number_is_never_taken_for_one(number: str, caplog):
    """Sent to as a number, it would reach no one (found by the fuzzer: a BSUID in ``from``)."""
    message = wa_message("text", {"body": "hello"}, **{"from": number})
    contacts = [{"profile": {"name": "Ada"}, "wa_id": number}]
    messages, _ = parse_whatsapp(wa_payload(wa_change([message], contacts=contacts)))
    assert messages == []
    assert [r.reason for r in caplog.records] == ["from and from_user_id are missing"]


@pytest.mark.parametrize("phone", [True, False], ids=["with phone", "phone-less"])
@pytest.mark.parametrize(
    ("message_type", "content", "kind"),
    [
        (
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "/affirm", "title": "Yes"}},
            "button",
        ),
        ("button", {"payload": "/affirm", "text": "Yes"}, "button"),
        ("image", {"id": "1234", "mime_type": "image/jpeg", "sha256": "YWJj"}, "media"),
        ("location", {"latitude": 6.45, "longitude": 3.39}, "unsupported"),
        ("reaction", {"message_id": "wamid.OURS", "emoji": "\U0001f44d"}, "unsupported"),
        ("revoke", {"original_message_id": "wamid.EARLIER"}, "deleted"),
        (
            "edit",
            {
                "original_message_id": "wamid.EARLIER",
                "message": {"type": "text", "text": {"body": "x"}},
            },
            "edited",
        ),
    ],
)
def test_every_message_type_is_read_with_or_without_a_phone(message_type, content, kind, phone):
    message = wa_message(message_type, content, from_user_id=BSUID)
    if not phone:
        del message["from"]
    contact = bsuid_contact(wa_id=BUYER if phone else None)
    parsed = only_message(parse_whatsapp(wa_payload(wa_change([message], contacts=[contact]))))
    assert parsed.kind == kind
    assert parsed.whatsapp.user_id == BSUID
    assert parsed.sender == (BUYER if phone else BSUID)


def test_deletions_and_edits_are_never_answered():
    for message_type in ("revoke", "edit"):
        message = wa_message(message_type, {"original_message_id": "wamid.EARLIER"})
        assert not only_message(parse_whatsapp(wa_payload(wa_change([message])))).answered


def test_user_changed_number_carries_the_new_number_and_ids():
    """Meta's system notice (no contacts array): the old number in ``from``, the new one in
    ``system.wa_id``, the new and previous user ids."""
    system = {
        "body": "User Ada changed from 2348012345678 to 2348099998888",
        "wa_id": "2348099998888",
        "type": "user_changed_number",
        "user_id": "NG.1111111111111",
        "previous_user_id": BSUID,
    }
    message = wa_message("system", system)
    parsed = only_message(parse_whatsapp(wa_payload(wa_change([message], contacts=[]))))
    assert (parsed.kind, parsed.answered) == ("identity_change", False)
    assert parsed.whatsapp == WhatsAppUser(wa_id=BUYER, user_id=BSUID)
    assert parsed.identity_change == IdentityChange(
        type="user_changed_number",
        wa_id="2348099998888",
        user_id="NG.1111111111111",
        previous_user_id=BSUID,
    )


def test_user_changed_user_id_without_a_phone():
    system = {
        "body": f"User Ada changed from {BSUID} to NG.2222222222222",
        "type": "user_changed_user_id",
        "user_id": "NG.2222222222222",
        "previous_user_id": BSUID,
    }
    message = wa_message("system", system)
    del message["from"]
    parsed = only_message(parse_whatsapp(wa_payload(wa_change([message], contacts=[]))))
    assert parsed.sender == BSUID
    assert parsed.identity_change.user_id == "NG.2222222222222"
    assert not parsed.answered


@pytest.mark.parametrize(
    ("origin", "own"), [("contact_request", True), ("other", False), (None, False)]
)
def test_a_shared_contact_proves_the_number_only_when_it_answers_our_request(origin, own):
    card: dict[str, Any] = {
        "name": {"formatted_name": "Ada Obi"},
        "phones": [{"phone": "+234 801 234 5678", "wa_id": BUYER, "type": "CELL"}],
    }
    if origin is not None:
        card["origin"] = origin
    message = wa_message("contacts", None, contacts=[card], from_user_id=BSUID)
    del message["from"]
    parsed = only_message(
        parse_whatsapp(wa_payload(wa_change([message], contacts=[bsuid_contact(wa_id=None)])))
    )
    assert parsed.kind == "contact"
    assert parsed.contact == SharedContact(wa_id=BUYER, phone="+234 801 234 5678", origin=origin)
    assert parsed.contact.is_senders_own is own


def test_a_contact_card_without_a_phone_shares_nothing():
    message = wa_message("contacts", None, contacts=[{"name": {"formatted_name": "Chidi"}}])
    parsed = only_message(parse_whatsapp(wa_payload(wa_change([message]))))
    assert (parsed.kind, parsed.contact) == ("contact", None)


@pytest.mark.parametrize(
    "fields",
    [
        {"recipient_id": BUYER, "recipient_user_id": BSUID},
        {"recipient_user_id": BSUID},
        {"recipient_user_id": BSUID, "recipient_parent_user_id": PARENT_BSUID},
        {"recipient_user_id": BSUID, "parent_recipient_user_id": PARENT_BSUID},
        {"contacts": [{"wa_id": BUYER, "user_id": BSUID, "profile": {"username": "ada.buys"}}]},
        {},
    ],
    ids=["both", "user id only", "parent", "parent, old spelling", "contacts", "none"],
)
@pytest.mark.parametrize("status", ["sent", "delivered", "read", "failed"])
def test_statuses_are_joined_by_message_id_whatever_recipient_fields_they_carry(fields, status):
    update = {"id": "wamid.OURS", "status": status, "timestamp": WA_TIMESTAMP, **fields}
    _, (parsed,) = parse_whatsapp(wa_payload(wa_change(statuses=[update])))
    assert (parsed.message_id, parsed.status) == ("wamid.OURS", status)
    named_both = "recipient_id" in fields or "contacts" in fields
    assert (parsed.recipient is not None) is named_both
    if named_both:
        assert (parsed.recipient.wa_id, parsed.recipient.user_id) == (BUYER, BSUID)


def test_statuses_never_need_the_conversation_or_pricing_objects():
    """v24.0+ omits them; a status without either is read the same."""
    update = {"id": "wamid.OURS", "status": "delivered", "timestamp": WA_TIMESTAMP}
    _, (parsed,) = parse_whatsapp(wa_payload(wa_change(statuses=[update])))
    assert parsed.status == "delivered"
