"""A whitespace tokenizer that shows featurizers a fixed word in place of ids and codes.

Order ids, one-time codes and phone numbers are random: their characters would otherwise become
character n-gram features and pull "order ORD-6DN2N0" towards whichever intent happened to have
similar ids in training. Entities are still extracted from the original text by
RegexEntityExtractor.
"""

from __future__ import annotations

import re

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.platform.patterns import ORDER_ID_PATTERN, OTP_CODE_PATTERN, PHONE_NUMBER_PATTERN

PLACEHOLDERS = (
    (re.compile(PHONE_NUMBER_PATTERN), "__phone_number__"),
    (re.compile(ORDER_ID_PATTERN), "__order_id__"),
    (re.compile(OTP_CODE_PATTERN), "__otp_code__"),
)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class PlaceholderWhitespaceTokenizer(WhitespaceTokenizer):
    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        text = message.get(attribute) or ""
        # One pass over the tokens per pattern (both in text order), so a long message costs
        # time linear in its length; where both patterns cover a token, the code's placeholder
        # wins, as it is applied last.
        for pattern, placeholder in PLACEHOLDERS:
            spans = [match.span() for match in pattern.finditer(text)]
            first = 0
            for token in tokens:
                while first < len(spans) and spans[first][1] <= token.start:
                    first += 1
                if first < len(spans) and spans[first][0] < token.end:
                    token.text = token.lemma = placeholder
        return tokens
