"""One model, many shops: each shop's own words, tone, welcome and contact line.

Rasa's templated generator picks and fills the domain's responses; this one first looks up the
conversation's shop (from a short-lived cache refreshed in a worker thread, so the event loop
never waits on the database), prefers the shop's own wording of a response, picks the variation
of the shop's tone, and fills in the shop's placeholders. It subclasses
``TemplatedNaturalLanguageGenerator`` because Rasa swaps the domain's responses into such a
generator when it loads a new model.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from typing import Any

from rasa.core.nlg.response import ResponseVariationFilter, TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.platform.db import session_scope
from bot.shop.profile import ShopProfile, load_profile
from bot.shop.shops import get_shop, shop_of_conversation
from connectors import action_responses

logger = logging.getLogger(__name__)

# Every Rasa server of the project loads this generator (endpoints.yml): there, action server
# responses are checked with the validator built once.
action_responses.install()

# An owner's change is seen by every server within this many seconds.
PROFILE_TTL_SECONDS = 1.0


def _load(shop_id: str) -> ShopProfile | None:
    with session_scope() as session:
        shop = get_shop(session, shop_id)
        return load_profile(session, shop) if shop else None


class ShopProfiles:
    """Shop profiles cached for a second; a stale one is reloaded in a thread before use."""

    def __init__(self, ttl: float = PROFILE_TTL_SECONDS) -> None:
        self._ttl = ttl
        self._cache: dict[str, tuple[float, ShopProfile | None]] = {}

    async def get(self, shop_id: str) -> ShopProfile | None:
        cached = self._cache.get(shop_id)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        try:
            profile = await asyncio.to_thread(_load, shop_id)
        except Exception:
            logger.exception("shop profile unavailable", extra={"shop_id": shop_id})
            return cached[1] if cached else None
        self._cache[shop_id] = (time.monotonic(), profile)
        return profile


class ShopResponseGenerator(TemplatedNaturalLanguageGenerator):
    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        domain: Domain | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__((domain or Domain.empty()).responses)
        self.profiles = ShopProfiles()

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        filled_slots = tracker.current_slot_values()
        shop_id = shop_of_conversation(tracker.sender_id, tracker.get_slot("shop_id"))
        profile = await self.profiles.get(shop_id) if shop_id else None
        if profile is None:
            # A shop not (or no longer) registered still gets the default wording, filled in.
            profile = ShopProfile(shop_id="", name=filled_slots.get("shop_name") or "our shop")
        filled_slots = {
            **filled_slots,
            **profile.shop_values(filled_slots.get("buyer_name")),
            "tone": profile.tone,
        }
        own = profile.responses.get(utter_action)
        if not own:
            return self.generate_from_slots(utter_action, filled_slots, output_channel, **kwargs)
        suitable = ResponseVariationFilter({utter_action: own}).responses_for_utter_action(
            utter_action, output_channel, filled_slots
        )
        if not suitable:
            return self.generate_from_slots(utter_action, filled_slots, output_channel, **kwargs)
        return self._fill_response(copy.deepcopy(random.choice(suitable)), filled_slots, **kwargs)
