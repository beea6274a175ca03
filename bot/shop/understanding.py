"""When the assistant is too unsure of a message that would change an order to act on it.

A wrong ``affirm``, ``deny``, ``confirm_order`` or ``cancel_order`` confirms, cancels or keeps
an order the buyer did not mean to, so these four get a stricter bar than the other intents
(the FallbackClassifier's 0.7 in config.yml): below it the assistant asks a one-tap question
instead of acting. The NLU pipeline (connectors/order_guard.py) and the clarifying action
(actions/clarify.py) both decide with ``intent_in_doubt``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ORDER_CHANGING = frozenset({"affirm", "deny", "confirm_order", "cancel_order"})
FALLBACK_INTENT = "nlu_fallback"
# An order-changing intent is acted on only at this confidence or above...
MIN_CONFIDENCE = 0.8
# ...and this far ahead of the best other order-changing intent (its opposite, usually).
MIN_MARGIN = 0.7


def intent_in_doubt(ranking: Sequence[Mapping[str, Any]]) -> str | None:
    """The order-changing intent a message most likely means, when the assistant should ask
    before acting on it; None when it is sure enough or the message means something else.

    ``ranking`` is Rasa's intent ranking, best first. A message the FallbackClassifier already
    set aside (``nlu_fallback`` first) is in doubt whenever its best real intent changes orders.
    """
    if not ranking:
        return None
    set_aside = ranking[0].get("name") == FALLBACK_INTENT
    real = [entry for entry in ranking if entry.get("name") != FALLBACK_INTENT]
    if not real or real[0].get("name") not in ORDER_CHANGING:
        return None
    top = real[0]
    confidence = float(top.get("confidence") or 0.0)
    rival = max(
        (float(e.get("confidence") or 0.0) for e in real[1:] if e.get("name") in ORDER_CHANGING),
        default=0.0,
    )
    if set_aside or confidence < MIN_CONFIDENCE or confidence - rival < MIN_MARGIN:
        return str(top["name"])
    return None
