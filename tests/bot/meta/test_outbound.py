"""Outbound bodies: every Rasa response becomes Graph API bodies within every Meta limit,
composed into as few messages as the limits allow, with text split at natural boundaries."""

import itertools
from typing import Any

import pytest

from bot.meta.outbound import (
    INSTAGRAM_TEXT_LIMIT_BYTES,
    WHATSAPP_BODY_LIMIT,
    WHATSAPP_TEXT_LIMIT,
    Recipient,
    instagram_messages,
    split_text,
    whatsapp_authentication_template,
    whatsapp_contact_request,
    whatsapp_messages,
)

BUYER = "2348012345678"
BSUID = "NG.8462019375510"
TO = Recipient(wa_id=BUYER, user_id=BSUID)
IGSID = "6574321987654321"
IMAGE = "https://shop.example/products/ankara.jpg"


def utf8(text: str) -> int:
    return len(text.encode())


def buttons(count: int, title: str = "Option {}", payload: str = '/pick{{"n": {}}}'):
    return [{"title": title.format(n), "payload": payload.format(n)} for n in range(1, count + 1)]


def words(length: int) -> str:
    """Text of exactly ``length`` characters: short words, no space at either end."""
    text = ("lorem ipsum dolor sit amet " * (length // 27 + 1))[:length]
    return text[:-1] + "x" if text.endswith(" ") else text


def assert_whatsapp_within_limits(bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        assert body["messaging_product"] == "whatsapp"
        assert body["recipient_type"] == "individual"
        assert body["to"] == BUYER
        if body["type"] == "text":
            assert 0 < len(body["text"]["body"]) <= WHATSAPP_TEXT_LIMIT
            assert body["text"]["body"] == body["text"]["body"].strip()
        elif body["type"] == "image":
            assert len(body["image"].get("caption", "")) <= 1024
        else:
            interactive = body["interactive"]
            assert 0 < len(interactive["body"]["text"]) <= WHATSAPP_BODY_LIMIT
            if interactive["type"] == "button":
                replies = [item["reply"] for item in interactive["action"]["buttons"]]
                assert 1 <= len(replies) <= 3
                assert all(0 < len(reply["title"]) <= 20 for reply in replies)
                assert all(0 < len(reply["id"]) <= 256 for reply in replies)
                assert len({reply["title"] for reply in replies}) == len(replies)
            else:
                action = interactive["action"]
                assert len(action["button"]) <= 20
                rows = [row for section in action["sections"] for row in section["rows"]]
                assert 1 <= len(rows) <= 10
                assert all(0 < len(row["title"]) <= 24 for row in rows)
                assert all(len(row.get("description", "")) <= 72 for row in rows)
                assert all(0 < len(row["id"]) <= 200 for row in rows)


def assert_instagram_within_limits(bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        assert body["recipient"] == {"id": IGSID}
        message = body["message"]
        if "text" in message:
            assert 0 < utf8(message["text"]) <= INSTAGRAM_TEXT_LIMIT_BYTES
        quick_replies = message.get("quick_replies", [])
        assert len(quick_replies) <= 13
        assert all(0 < len(reply["title"]) <= 20 for reply in quick_replies)
        assert all(0 < len(reply["payload"]) <= 1000 for reply in quick_replies)


def texts(bodies: list[dict[str, Any]]) -> list[str]:
    return [body["text"]["body"] for body in bodies if body["type"] == "text"]


# split_text


@pytest.mark.parametrize("text", ["", " ", "\n\n \t"])
def test_split_empty_text_gives_no_chunks(text):
    assert split_text(text, 10) == []


def test_split_text_exactly_at_the_limit_is_one_chunk():
    assert split_text("a" * 10, 10) == ["a" * 10]
    assert split_text("hello world", 11) == ["hello world"]


def test_split_text_one_past_the_limit_is_two_chunks():
    assert split_text("a" * 11, 10) == ["a" * 10, "a"]
    assert split_text("hello world!", 11) == ["hello", "world!"]


def test_split_prefers_paragraphs_then_lines_then_words():
    text = "first para\n\nsecond line one\nsecond line two words"
    assert split_text(text, 40) == ["first para", "second line one\nsecond line two words"]
    assert split_text(text, 30) == ["first para", "second line one", "second line two words"]
    assert split_text("second line two words", 15) == ["second line two", "words"]


def test_split_takes_the_last_boundary_that_fits():
    assert split_text("aa bb cc dd ee", 8) == ["aa bb cc", "dd ee"]
    assert split_text("aa\nbb\ncc dd ee", 8) == ["aa\nbb", "cc dd ee"]


def test_split_hard_splits_a_word_longer_than_the_limit():
    assert split_text("see " + "x" * 25 + " ok", 10) == ["see", "x" * 10, "x" * 10, "xxxxx ok"]


def test_split_keeps_every_word_in_order():
    text = "\n\n".join(words(n) for n in (3000, 5000, 10, 4096))
    chunks = split_text(text, WHATSAPP_TEXT_LIMIT)
    assert all(0 < len(chunk) <= WHATSAPP_TEXT_LIMIT for chunk in chunks)
    assert " ".join(chunks).split() == text.split()


def test_split_by_utf8_bytes_never_breaks_a_code_point():
    text = "\U0001f600" * 251  # 4 bytes each: 1004 bytes
    chunks = split_text(text, INSTAGRAM_TEXT_LIMIT_BYTES, measure=utf8)
    assert chunks == ["\U0001f600" * 250, "\U0001f600"]
    assert utf8(chunks[0]) == INSTAGRAM_TEXT_LIMIT_BYTES


def test_split_by_utf8_bytes_with_mixed_widths():
    text = "a" + "é" * 600 + " ₦25,000 " + "\U0001f44d\U0001f3fe" * 100  # 1, 2, 3 and 4 bytes
    chunks = split_text(text, INSTAGRAM_TEXT_LIMIT_BYTES, measure=utf8)
    assert all(0 < utf8(chunk) <= INSTAGRAM_TEXT_LIMIT_BYTES for chunk in chunks)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")
    assert chunks[0] == "a" + "é" * 499  # 999 bytes: one more é would be 1001


def test_split_refuses_a_code_point_longer_than_the_limit():
    with pytest.raises(ValueError):
        split_text("\U0001f600", 3, measure=utf8)


def test_split_refuses_a_limit_below_one():
    with pytest.raises(ValueError):
        split_text("hello", 0)


# WhatsApp


def test_whatsapp_plain_text_is_one_text_message():
    assert whatsapp_messages(TO, "Your order ORD-7F3K9Q is confirmed.") == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": BUYER,
            "type": "text",
            "text": {"body": "Your order ORD-7F3K9Q is confirmed.", "preview_url": False},
        }
    ]


def test_whatsapp_text_at_the_limit_is_one_message_and_one_past_is_two():
    at_limit = whatsapp_messages(TO, "a" * WHATSAPP_TEXT_LIMIT)
    past_limit = whatsapp_messages(TO, "a" * (WHATSAPP_TEXT_LIMIT + 1))
    assert texts(at_limit) == ["a" * WHATSAPP_TEXT_LIMIT]
    assert texts(past_limit) == ["a" * WHATSAPP_TEXT_LIMIT, "a"]


def test_whatsapp_empty_text_without_buttons_sends_nothing():
    assert whatsapp_messages(TO, "") == []


@pytest.mark.parametrize("count", [1, 2, 3])
def test_whatsapp_up_to_three_buttons_are_reply_buttons(count):
    (body,) = whatsapp_messages(TO, "Pay now or later?", buttons(count))
    assert body["type"] == "interactive"
    assert body["interactive"] == {
        "type": "button",
        "body": {"text": "Pay now or later?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f'/pick{{"n": {n}}}', "title": f"Option {n}"}}
                for n in range(1, count + 1)
            ]
        },
    }


def test_whatsapp_reply_body_at_the_limit_is_one_message():
    text = "a" * WHATSAPP_BODY_LIMIT
    (body,) = whatsapp_messages(TO, text, buttons(2))
    assert body["interactive"]["body"]["text"] == text


def test_whatsapp_reply_body_one_past_the_limit_sends_the_start_first():
    first, second = whatsapp_messages(TO, "a" * (WHATSAPP_BODY_LIMIT + 1), buttons(2))
    assert first["text"]["body"] == "a" * WHATSAPP_BODY_LIMIT
    assert second["interactive"]["body"]["text"] == "a"


def test_whatsapp_reply_body_starts_at_a_word_boundary():
    text = "Intro. " + "b" * (WHATSAPP_BODY_LIMIT - 7) + " end"
    first, second = whatsapp_messages(TO, text, buttons(2))
    assert first["text"]["body"] == "Intro. " + "b" * (WHATSAPP_BODY_LIMIT - 7)
    assert second["interactive"]["body"]["text"] == "end"


def test_whatsapp_long_text_with_buttons_keeps_everything_in_order():
    text = "\n\n".join(words(n) for n in (4000, 3000, 1500))
    bodies = whatsapp_messages(TO, text, buttons(3))
    assert_whatsapp_within_limits(bodies)
    assert [body["type"] for body in bodies[:-1]] == ["text"] * (len(bodies) - 1)
    parts = texts(bodies) + [bodies[-1]["interactive"]["body"]["text"]]
    assert " ".join(parts).split() == text.split()


def test_whatsapp_reply_titles_are_cut_at_twenty_with_an_ellipsis():
    choices = [
        {"title": "T" * 20, "payload": "a"},
        {"title": "U" * 21, "payload": "b"},
        {"title": "Pay on delivery please", "payload": "c"},
    ]
    (body,) = whatsapp_messages(TO, "How?", choices)
    titles = [item["reply"]["title"] for item in body["interactive"]["action"]["buttons"]]
    assert titles == ["T" * 20, "U" * 19 + "…", "Pay on delivery ple…"]


def test_whatsapp_reply_titles_made_equal_by_cutting_are_made_unique():
    choices = [
        {"title": "Deliver to my office address", "payload": "office"},
        {"title": "Deliver to my office address in Ikeja", "payload": "ikeja"},
        {"title": "Deliver to my office address in Yaba", "payload": "yaba"},
    ]
    (body,) = whatsapp_messages(TO, "Where?", choices)
    titles = [item["reply"]["title"] for item in body["interactive"]["action"]["buttons"]]
    assert titles == ["Deliver to my offic…", "Deliver to my off… 2", "Deliver to my off… 3"]
    assert_whatsapp_within_limits([body])


def test_whatsapp_equal_short_titles_are_made_unique():
    choices = [{"title": "Yes", "payload": "a"}, {"title": "Yes", "payload": "b"}]
    (body,) = whatsapp_messages(TO, "Sure?", choices)
    titles = [item["reply"]["title"] for item in body["interactive"]["action"]["buttons"]]
    assert titles == ["Yes", "Yes 2"]


def test_whatsapp_reply_ids_are_cut_at_256():
    choices = [{"title": "a", "payload": "p" * 256}, {"title": "b", "payload": "q" * 257}]
    (body,) = whatsapp_messages(TO, "Pick", choices)
    ids = [item["reply"]["id"] for item in body["interactive"]["action"]["buttons"]]
    assert ids == ["p" * 256, "q" * 256]


@pytest.mark.parametrize("count", [4, 10])
def test_whatsapp_four_to_ten_buttons_are_a_list(count):
    (body,) = whatsapp_messages(TO, "Which order?", buttons(count))
    assert body["interactive"] == {
        "type": "list",
        "body": {"text": "Which order?"},
        "action": {
            "button": "Choose",
            "sections": [
                {
                    "title": "Options",
                    "rows": [
                        {"id": f'/pick{{"n": {n}}}', "title": f"Option {n}"}
                        for n in range(1, count + 1)
                    ],
                }
            ],
        },
    }


def test_whatsapp_list_rows_are_cut_with_the_full_title_as_description():
    choices = [
        {"title": "R" * 24, "payload": "i" * 200},
        {"title": "S" * 25, "payload": "j" * 201},
        {"title": "T" * 72, "payload": "k"},
        {"title": "U" * 73, "payload": "l"},
    ]
    (body,) = whatsapp_messages(TO, "Pick", choices)
    rows = body["interactive"]["action"]["sections"][0]["rows"]
    assert rows == [
        {"id": "i" * 200, "title": "R" * 24},
        {"id": "j" * 200, "title": "S" * 23 + "…", "description": "S" * 25},
        {"id": "k", "title": "T" * 23 + "…", "description": "T" * 72},
        {"id": "l", "title": "U" * 23 + "…", "description": "U" * 71 + "…"},
    ]


def test_whatsapp_more_than_ten_buttons_are_numbered_text():
    (body,) = whatsapp_messages(TO, "Pick a colour:", buttons(11, title="Colour {}"))
    expected = "Pick a colour:\n\n" + "\n".join(f"{n}. Colour {n}" for n in range(1, 12))
    assert body["type"] == "text"
    assert body["text"]["body"] == expected


def test_whatsapp_numbered_text_without_text_is_only_the_list():
    (body,) = whatsapp_messages(TO, "", buttons(11))
    assert body["text"]["body"].startswith("1. Option 1\n2. Option 2")


def test_whatsapp_long_numbered_text_is_split_at_the_blank_line():
    text = words(4000)
    bodies = whatsapp_messages(TO, text, buttons(11))
    assert texts(bodies)[1].startswith("1. Option 1")
    assert_whatsapp_within_limits(bodies)


def test_whatsapp_image_with_caption():
    (body,) = whatsapp_messages(TO, "Ankara, 6 yards", image_url=IMAGE)
    assert body["type"] == "image"
    assert body["image"] == {"link": IMAGE, "caption": "Ankara, 6 yards"}


def test_whatsapp_image_without_text_has_no_caption():
    (body,) = whatsapp_messages(TO, "", image_url=IMAGE)
    assert body["image"] == {"link": IMAGE}


def test_whatsapp_caption_at_the_limit_is_one_message_and_one_past_adds_a_text():
    (at_limit,) = whatsapp_messages(TO, "c" * 1024, image_url=IMAGE)
    image, rest = whatsapp_messages(TO, "c" * 1025, image_url=IMAGE)
    assert at_limit["image"]["caption"] == "c" * 1024
    assert image["image"]["caption"] == "c" * 1024
    assert rest["text"]["body"] == "c"


def test_whatsapp_caption_ends_at_a_word_boundary():
    image, rest = whatsapp_messages(TO, "c" * 1023 + " dd", image_url=IMAGE)
    assert image["image"]["caption"] == "c" * 1023
    assert rest["text"]["body"] == "dd"


def test_whatsapp_image_with_reply_buttons_is_one_message_with_an_image_header():
    (body,) = whatsapp_messages(TO, "Buy this?", buttons(2), image_url=IMAGE)
    assert body["interactive"]["header"] == {"type": "image", "image": {"link": IMAGE}}
    assert body["interactive"]["body"] == {"text": "Buy this?"}


def test_whatsapp_image_with_a_list_goes_first_on_its_own():
    image, choice = whatsapp_messages(TO, "Which size?", buttons(5), image_url=IMAGE)
    assert image["image"] == {"link": IMAGE}
    assert choice["interactive"]["type"] == "list"
    assert choice["interactive"]["body"] == {"text": "Which size?"}


@pytest.mark.parametrize("count", [1, 4])
def test_whatsapp_buttons_without_text_still_have_a_body(count):
    (body,) = whatsapp_messages(TO, "", buttons(count))
    assert body["interactive"]["body"]["text"]


# Instagram


def test_instagram_plain_text():
    assert instagram_messages(IGSID, "Your order is confirmed.") == [
        {"recipient": {"id": IGSID}, "message": {"text": "Your order is confirmed."}}
    ]


def test_instagram_text_at_the_byte_limit_is_one_message_and_one_past_is_two():
    at_limit = instagram_messages(IGSID, "a" * 1000)
    past_limit = instagram_messages(IGSID, "a" * 1001)
    assert [body["message"]["text"] for body in at_limit] == ["a" * 1000]
    assert [body["message"]["text"] for body in past_limit] == ["a" * 1000, "a"]


def test_instagram_limit_counts_bytes_not_characters():
    emoji = "\U0001f60d"  # 4 bytes
    at_limit = instagram_messages(IGSID, emoji * 250)
    past_limit = instagram_messages(IGSID, emoji * 251)
    assert [body["message"]["text"] for body in at_limit] == [emoji * 250]
    assert [body["message"]["text"] for body in past_limit] == [emoji * 250, emoji]
    naira = instagram_messages(IGSID, "₦" * 334)  # 3 bytes each: 1002 bytes
    assert [utf8(body["message"]["text"]) for body in naira] == [999, 3]


@pytest.mark.parametrize("count", [1, 13])
def test_instagram_up_to_thirteen_buttons_are_quick_replies_on_the_last_text(count):
    bodies = instagram_messages(IGSID, "a" * 1500, buttons(count))
    assert "quick_replies" not in bodies[0]["message"]
    assert bodies[-1]["message"]["quick_replies"] == [
        {"content_type": "text", "title": f"Option {n}", "payload": f'/pick{{"n": {n}}}'}
        for n in range(1, count + 1)
    ]


def test_instagram_more_than_thirteen_buttons_are_numbered_text():
    (body,) = instagram_messages(IGSID, "Pick:", buttons(14))
    expected = "Pick:\n\n" + "\n".join(f"{n}. Option {n}" for n in range(1, 15))
    assert body["message"] == {"text": expected}


def test_instagram_quick_reply_titles_and_payloads_are_cut():
    choices = [
        {"title": "T" * 20, "payload": "p" * 1000},
        {"title": "U" * 21, "payload": "q" * 1001},
    ]
    (body,) = instagram_messages(IGSID, "Pick", choices)
    replies = body["message"]["quick_replies"]
    assert [reply["title"] for reply in replies] == ["T" * 20, "U" * 19 + "…"]
    assert [reply["payload"] for reply in replies] == ["p" * 1000, "q" * 1000]


def test_instagram_image_goes_first_then_the_text():
    image, text = instagram_messages(IGSID, "Ankara, 6 yards", buttons(2), image_url=IMAGE)
    assert image == {
        "recipient": {"id": IGSID},
        "message": {"attachment": {"type": "image", "payload": {"url": IMAGE}}},
    }
    assert text["message"]["text"] == "Ankara, 6 yards"
    assert len(text["message"]["quick_replies"]) == 2


def test_instagram_buttons_without_text_still_have_a_text():
    (body,) = instagram_messages(IGSID, "", buttons(2))
    assert body["message"]["text"]
    assert len(body["message"]["quick_replies"]) == 2


def test_instagram_empty_text_sends_nothing():
    assert instagram_messages(IGSID, "") == []


# No body ever exceeds a limit

SAMPLE_TEXTS = [
    "",
    "ok",
    words(1023),
    words(1025),
    words(4096),
    words(4097),
    "x" * 9000,
    "\n\n".join(["Para " + words(900)] * 7),
    "Na ₦25,000 for 6 yards \U0001f60d\U0001f44d\U0001f3fe " * 200,
]
LONG_TITLES = "A very long button title that keeps going {} and going"


@pytest.mark.parametrize(
    ("text", "count", "image_url", "title"),
    list(
        itertools.product(
            SAMPLE_TEXTS, [0, 1, 3, 4, 10, 11, 13, 14, 40], [None, IMAGE], ["Ok {}", LONG_TITLES]
        )
    ),
)
def test_no_body_exceeds_any_limit(text, count, image_url, title):
    choices = buttons(count, title=title, payload="/choose" + "z" * 1200 + "{}")
    assert_whatsapp_within_limits(whatsapp_messages(TO, text, choices, image_url))
    assert_instagram_within_limits(instagram_messages(IGSID, text, choices, image_url))


def test_whatsapp_goes_to_the_number_when_known_and_never_puts_a_user_id_in_to():
    (to_number,) = whatsapp_messages(TO, "Hello")
    (to_user_id,) = whatsapp_messages(Recipient(wa_id=None, user_id=BSUID), "Hello")
    assert (to_number["to"], "recipient" in to_number) == (BUYER, False)
    assert to_user_id["recipient"] == BSUID
    assert "to" not in to_user_id
    assert to_user_id["recipient_type"] == "individual"


def test_a_recipient_needs_a_number_or_a_user_id():
    with pytest.raises(ValueError):
        Recipient(wa_id=None).envelope()


def test_whatsapp_contact_request_asks_for_the_buyers_own_number():
    (body,) = whatsapp_contact_request(Recipient(wa_id=None, user_id=BSUID), "Share your number?")
    assert body["recipient"] == BSUID
    assert body["interactive"] == {
        "type": "request_contact_info",
        "body": {"text": "Share your number?"},
        "action": {"name": "request_contact_info"},
    }


def test_whatsapp_contact_request_keeps_long_text_before_the_button():
    text = "a" * (WHATSAPP_BODY_LIMIT + 10)
    first, button = whatsapp_contact_request(TO, text)
    assert first["type"] == "text"
    assert button["interactive"]["type"] == "request_contact_info"
    assert len(button["interactive"]["body"]["text"]) <= WHATSAPP_BODY_LIMIT


def test_authentication_template_carries_the_code_in_body_and_button_to_a_number():
    body = whatsapp_authentication_template(BUYER, "trustguard_code", "en", "K7#M@P2Q")
    assert body["to"] == BUYER and "recipient" not in body
    template = body["template"]
    assert (template["name"], template["language"]) == ("trustguard_code", {"code": "en"})
    texts = [p["text"] for c in template["components"] for p in c["parameters"]]
    assert texts == ["K7#M@P2Q", "K7#M@P2Q"]
