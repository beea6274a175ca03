"""A whitespace tokenizer that shows featurizers a fixed word in place of ids and codes.

Order ids and one-time codes are random: their characters would otherwise become character
n-gram features and pull "order ORD-6DN2N0" towards whichever intent happened to have similar
ids in training. Entities are still extracted from the original text by RegexEntityExtractor.
"""

from __future__ import annotations

import re

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.platform.patterns import ORDER_ID_PATTERN, OTP_CODE_PATTERN

PLACEHOLDERS = (
    (re.compile(ORDER_ID_PATTERN), "__order_id__"),
    (re.compile(OTP_CODE_PATTERN), "__otp_code__"),
)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class PlaceholderWhitespaceTokenizer(WhitespaceTokenizer):
    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        text = message.get(attribute) or ""
        spans = [
            (match.start(), match.end(), placeholder)
            for pattern, placeholder in PLACEHOLDERS
            for match in pattern.finditer(text)
        ]
        for token in tokens:
            for start, end, placeholder in spans:
                if token.start < end and start < token.end:
                    token.text = token.lemma = placeholder
        return tokens
