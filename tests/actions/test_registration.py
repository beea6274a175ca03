"""Registration and one-time codes in the chat, run through the actions as the server runs them."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from actions.registration import ActionRegisterBuyer
from actions.verification import ActionResendCode, ActionVerifyCode, wait_in_words
from bot.platform import db
from bot.platform.models import AuditEvent, Buyer, BuyerIdentity, OtpChallenge
from tests.actions.helpers import responses, run_action
from tests.conftest import make_buyer, make_shop, tracker_for


def _age_codes(seconds: int) -> None:
    """Move every issued code back in time (in Python: SQLite has no datetime arithmetic)."""
    with db.session_scope() as session:
        for challenge in session.execute(sa.select(OtpChallenge)).scalars():
            challenge.created_at -= dt.timedelta(seconds=seconds)
            challenge.expires_at -= dt.timedelta(seconds=seconds)


async def _register(user_id: str, shop_id: str = "mama-put") -> str:
    messages, _ = await run_action(ActionRegisterBuyer(), tracker_for(user_id, "hi", shop=shop_id))
    assert responses(messages) == ["utter_welcome_new"]
    return messages[0]["code"]


async def _verify(code: str, *, text: str | None = None, user_id: str = "u-1") -> list[dict]:
    """The buyer's message ``text`` (the code alone unless given), in which the code is read."""
    tracker = tracker_for(user_id, code if text is None else text, entities={"otp_code": code})
    messages, _ = await run_action(ActionVerifyCode(), tracker)
    return messages


async def test_new_buyer_gets_account_and_code() -> None:
    make_shop()
    code = await _register("2348012345678")

    with db.session_scope() as session:
        buyer = session.execute(sa.select(Buyer)).scalar_one()
        identity = session.execute(sa.select(BuyerIdentity)).scalar_one()
        assert (identity.shop_id, identity.channel, identity.key) == (
            "mama-put",
            "rest",
            "2348012345678",
        )
        assert (identity.buyer_id, buyer.shop_id, buyer.verified_at) == (buyer.id, "mama-put", None)
        challenge = session.execute(sa.select(OtpChallenge)).scalar_one()
        assert code not in challenge.code_hmac
        actions = session.execute(sa.select(AuditEvent.action, AuditEvent.buyer)).all()
        label = f"buyer #{buyer.id}"
        assert actions == [("buyer.registered", label), ("code.issued", label)]


async def test_greeting_again_within_a_minute_does_not_issue_another_code() -> None:
    make_shop()
    await _register("u-1")
    messages, _ = await run_action(ActionRegisterBuyer(), tracker_for("u-1", "hello"))
    assert responses(messages) == ["utter_code_recently_sent"]
    assert 0 < messages[0]["seconds"] <= 60


async def test_verified_buyer_is_welcomed_back() -> None:
    make_shop()
    make_buyer("mama-put", "u-1", verified=True)
    messages, _ = await run_action(ActionRegisterBuyer(), tracker_for("u-1", "hi"))
    assert responses(messages) == ["utter_welcome_back"]


async def test_unknown_shop_is_told_not_set_up() -> None:
    messages, _ = await run_action(ActionRegisterBuyer(), tracker_for("u-1", "hi", shop="ghost"))
    assert responses(messages) == ["utter_shop_unavailable"]


async def test_default_shop_serves_messages_without_metadata(monkeypatch) -> None:
    from bot.platform.settings import get_settings

    make_shop()
    monkeypatch.setenv("DEFAULT_SHOP", "mama-put")
    get_settings.cache_clear()
    messages, _ = await run_action(ActionRegisterBuyer(), tracker_for("u-1", "register", shop=None))
    assert responses(messages) == ["utter_welcome_new"]


async def test_right_code_verifies_and_wrong_code_counts_down() -> None:
    make_shop()
    code = await _register("u-1")

    messages = await _verify("ABCD#234", text="verify XXXX")
    assert responses(messages) == ["utter_code_wrong"]
    assert messages[0]["attempts_left"] == 4

    messages = await _verify(code.lower())
    assert responses(messages) == ["utter_verified"]
    with db.session_scope() as session:
        assert session.execute(sa.select(Buyer.verified_at)).scalar_one() is not None
        audit = session.execute(sa.select(AuditEvent.action).order_by(AuditEvent.id)).scalars()
        assert list(audit)[-3:] == ["code.failed", "code.verified", "token.issued"]

    messages = await _verify(code)
    assert responses(messages) == ["utter_already_verified"]


async def test_five_wrong_codes_pause_codes_and_say_for_how_long() -> None:
    make_shop()
    code = await _register("u-1")
    said = []
    for _ in range(5):
        messages = await _verify("ZZZZ#222", text="x")
        said += responses(messages)
    assert said == ["utter_code_wrong"] * 3 + ["utter_code_wrong_last", "utter_code_locked_out"]
    assert messages[0]["wait"] == "5 minutes"

    messages = await _verify(code)
    assert responses(messages) == ["utter_code_locked_out"]
    assert messages[0]["wait"] in ("4 minutes", "5 minutes")
    _age_codes(61)
    messages, _ = await run_action(ActionResendCode(), tracker_for("u-1", "resend code"))
    assert responses(messages) == ["utter_code_locked_out"]
    with db.session_scope() as session:
        audit = session.execute(sa.select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
    assert [(e.action, e.detail) for e in audit][-2:] == [
        ("code.failed", {"attempts_left": 0}),
        ("code.locked_out", {"minutes": 5}),
    ]


async def test_a_resend_does_not_give_five_new_tries() -> None:
    make_shop()
    await _register("u-1")
    for _ in range(3):
        await _verify("ZZZZ#222", text="x")
    _age_codes(61)
    messages, _ = await run_action(ActionResendCode(), tracker_for("u-1", "resend code"))
    assert responses(messages) == ["utter_code_sent"]
    messages = await _verify("ZZZZ#222", text="x")
    assert responses(messages) == ["utter_code_wrong_last"]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 minute"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (300, "5 minutes"),
        (3540, "59 minutes"),
        (3541, "1 hour"),
        (3601, "2 hours"),
        (86400, "24 hours"),
    ],
)
def test_the_wait_is_said_in_plain_words_rounded_up(seconds: int, words: str) -> None:
    assert wait_in_words(dt.timedelta(seconds=seconds)) == words


async def test_expired_code_is_refused_and_a_new_one_can_be_sent() -> None:
    make_shop()
    code = await _register("u-1")
    _age_codes(301)
    messages = await _verify(code)
    assert responses(messages) == ["utter_code_expired"]

    _age_codes(61)
    messages, _ = await run_action(ActionResendCode(), tracker_for("u-1", "resend code"))
    assert responses(messages) == ["utter_code_sent"]
    new_code = messages[0]["code"]
    assert new_code != code
    messages = await _verify(new_code)
    assert responses(messages) == ["utter_verified"]


async def test_resend_is_limited_to_five_codes_an_hour() -> None:
    make_shop()
    await _register("u-1")
    said = []
    for _ in range(5):
        _age_codes(61)
        messages, _ = await run_action(ActionResendCode(), tracker_for("u-1", "resend"))
        said += responses(messages)
    assert said == ["utter_code_sent"] * 4 + ["utter_code_limit_reached"]


async def test_verify_without_a_code_asks_for_it_and_strangers_are_told_to_register() -> None:
    make_shop()
    await _register("u-1")
    messages, _ = await run_action(ActionVerifyCode(), tracker_for("u-1", "I wan verify"))
    assert responses(messages) == ["utter_ask_code"]
    messages = await _verify("K7#M@P2Q", user_id="u-2")
    assert responses(messages) == ["utter_not_registered"]


async def test_portal_link_carries_a_token_only_when_a_portal_is_configured(monkeypatch) -> None:
    from bot.platform.settings import get_settings
    from bot.shop.tokens import decode_buyer_token

    monkeypatch.setenv("BUYER_PORTAL_URL", "https://portal.example.test/")
    get_settings.cache_clear()
    make_shop()
    code = await _register("u-1")
    messages = await _verify(code)
    assert responses(messages) == ["utter_verified_portal"]
    link = messages[0]["portal_link"]
    assert link.startswith("https://portal.example.test/#token=")
    claims = decode_buyer_token(get_settings(), link.split("#token=", 1)[1])
    assert claims["shop"] == "mama-put"
