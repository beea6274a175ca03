"""Sets aside messages that would change an order when the model is not sure enough of them.

Runs after the FallbackClassifier and marks such a message ``nlu_fallback`` the same way it does
(first in the intent ranking, the real ranking kept below it), so the rule for ``nlu_fallback``
runs action_clarify, which asks the buyer a one-tap question instead of acting. The bar itself
is bot.shop.understanding's.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message

from bot.shop.understanding import FALLBACK_INTENT, MIN_CONFIDENCE, intent_in_doubt


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class OrderIntentGuard(GraphComponent, IntentClassifier):
    @classmethod
    def required_components(cls) -> list[type]:
        return [IntentClassifier]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> OrderIntentGuard:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            ranking = message.get(INTENT_RANKING_KEY) or []
            if not ranking or ranking[0].get("name") == FALLBACK_INTENT:
                continue
            if intent_in_doubt(ranking) is None:
                continue
            fallback = {"name": FALLBACK_INTENT, "confidence": MIN_CONFIDENCE}
            message.data[INTENT] = dict(fallback)
            message.data[INTENT_RANKING_KEY] = [dict(fallback), *ranking]
        return messages
