"""The regular expressions that several layers must agree on, kept in one place.

Each is also a regex of ``data/patterns.yml`` (a test keeps them equal), so the entity extractor,
the tokenizer, the actions and the log redaction all recognise exactly the same strings.
"""

from __future__ import annotations

# One-time codes: 8 characters from letters and digits without look-alikes and ``#%&+=@``, with
# at least one digit and one symbol (bot.shop.codes makes them).
OTP_CODE_PATTERN = (
    r"(?<![A-Za-z0-9#%&+=@])(?=[A-Za-z0-9#%&+=@]*[2-9])(?=[A-Za-z0-9#%&+=@]*[#%&+=@])"
    r"[A-HJKMNP-Za-hjkmnp-z2-9#%&+=@]{8}(?![A-Za-z0-9#%&+=@])"
)

# Order ids: ``ORD-`` and six Crockford base32 characters, typed however buyers like
# (``#ord7f3k9q``, ``ORD 7F3K9Q`` is not one; bot.shop.order_ids normalises them).
ORDER_ID_PATTERN = (
    r"(?<![A-Za-z0-9])#?[Oo][Rr][Dd]-?[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{6}(?![A-Za-z0-9])"
)

# Phone numbers as buyers type them: 10 to 15 digits, an optional ``+``, and at most two of
# `` ().-`` between digits (``0803 123 4567``, ``+234 (803) 123-4567``). What the digits mean is
# bot.platform.phones' to say; this only finds them, in time linear in the text.
PHONE_NUMBER_PATTERN = r"(?<![0-9+])\+?[0-9](?:[ ().-]{0,2}[0-9]){9,14}(?![0-9])"
