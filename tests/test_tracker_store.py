"""Conversation history keeps the conversation but never the secrets in it."""

from __future__ import annotations

import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.codes import generate_code
from connectors.tracker_store import RedactingSQLTrackerStore


async def test_codes_tokens_and_signed_forms_are_redacted_before_storing(tmp_path) -> None:
    code = generate_code()
    bot_code = generate_code()
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLWJ5dGVz"
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    store = RedactingSQLTrackerStore(domain=Domain.empty(), host=url)

    tracker = DialogueStateTracker("shop:whatsapp:2348012345678", slots=[])
    tracker.update(
        UserUttered(
            f"verify {code}",
            intent={"name": "verify_otp", "confidence": 1.0},
            entities=[{"entity": "otp_code", "value": code, "start": 7, "end": 15}],
        )
    )
    tracker.update(BotUttered(f"Your new code is {bot_code}"))
    tracker.update(BotUttered(f"Your portal: https://portal.test/#token={token}"))
    tracker.update(
        BotUttered(
            "Here is your upload form for ORD-7F3K9Q",
            data={"custom": {"receipt_upload": {"fields": {"image/png": {"policy": "c2VjcmV0"}}}}},
        )
    )
    await store.save(tracker)

    with sa.create_engine(url).connect() as connection:
        stored = " ".join(connection.execute(sa.text("SELECT data FROM events")).scalars())
    for secret in (code, bot_code, token, "c2VjcmV0", "2348012345678"):
        assert secret not in stored
    assert "ORD-7F3K9Q" in stored

    restored = await store.retrieve(tracker.sender_id)
    user = next(e for e in restored.events if isinstance(e, UserUttered))
    assert user.text == "verify [redacted]"
    assert user.intent_name == "verify_otp"
    assert user.entities[0]["value"] == "[redacted]"
    bots = [e.text for e in restored.events if isinstance(e, BotUttered)]
    assert bots[0] == "Your new code is [redacted]"
    assert bots[2] == "Here is your upload form for ORD-7F3K9Q"
