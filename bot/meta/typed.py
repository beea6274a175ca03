"""What a buyer typed, as Rasa must read it: words for NLU, never a command.

Rasa strips whitespace from a message and reads one that then starts with ``/`` as an intent
with entities (``/upload_receipt{"receipt_file": ...}``), skipping NLU. Button taps arrive as
payloads of their own; typed text is taken apart here until nothing of the kind is left.
"""

from __future__ import annotations

# WhatsApp's own limit on a text message; longer text is cut before it reaches NLU.
MAX_TYPED_CHARACTERS = 4096
# Characters Python's str.strip() keeps but that show as nothing.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def as_typed(text: str) -> str:
    """``text`` without leading slashes, whitespace of any kind or invisible characters around
    it, repeated until stable (``"/ /x"``, ``"\\u00a0/x"``, ``"\\u200b//x"`` all become ``"x"``),
    and cut to MAX_TYPED_CHARACTERS."""
    text = text[: MAX_TYPED_CHARACTERS * 2]
    while True:
        stable = text.strip().strip(_INVISIBLE).lstrip("/")
        if stable == text:
            return text[:MAX_TYPED_CHARACTERS].rstrip()
        text = stable
