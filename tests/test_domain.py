"""The domain and the code agree: every response an action or a channel utters exists, in every
tone."""

from __future__ import annotations

import re
import string

from bot.platform.settings import PROJECT_ROOT
from bot.shop.profile import TONES, domain_responses

RESPONSE_NAME = re.compile(r"[\"'](utter_[a-z0-9_]+)[\"']")


def responses_named_in(package: str) -> set:
    return {
        name
        for path in (PROJECT_ROOT / package).rglob("*.py")
        for name in RESPONSE_NAME.findall(path.read_text())
    }


def test_every_response_an_action_utters_is_in_the_domain() -> None:
    named = responses_named_in("actions")
    assert len(named) > 40
    assert named - set(domain_responses()) == set()


def test_every_response_a_channel_says_outside_a_turn_is_in_the_domain() -> None:
    named = responses_named_in("connectors")
    assert named >= {"utter_missed_messages", "utter_no_reply"}
    assert named - set(domain_responses()) == set()


def test_every_response_exists_in_every_tone_with_the_same_placeholders() -> None:
    def fields(text: str) -> set:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for name, variants in domain_responses().items():
        tones = [
            next((c["value"] for c in v.get("condition") or [] if c["name"] == "tone"), "friendly")
            for v in variants
        ]
        assert sorted(tones) == sorted(TONES), name
        assert len({frozenset(fields(v["text"])) for v in variants}) == 1, name
