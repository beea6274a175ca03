"""Typed text taken apart until no command is left in it, and cut to WhatsApp's limit."""

from __future__ import annotations

import pytest

from bot.meta.typed import MAX_TYPED_CHARACTERS, as_typed


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("/affirm", "affirm"),
        ("/ /upload_receipt{}", "upload_receipt{}"),
        ("\u00a0 /\u200b/ deny", "deny"),
        ("\ufeff//x\u2060", "x"),
        ("  confirm ORD-7F3K9Q  ", "confirm ORD-7F3K9Q"),
        ("a / b", "a / b"),
        ("///", ""),
        ("", ""),
    ],
)
def test_leading_commands_and_invisible_characters_go(typed: str, read: str) -> None:
    assert as_typed(typed) == read


def test_long_text_is_cut_to_whatsapps_limit() -> None:
    assert len(as_typed("ab " * 5000)) <= MAX_TYPED_CHARACTERS
    assert as_typed("/" * 50_000 + "x") == ""  # cut before it is read, never a command
