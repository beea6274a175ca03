"""What every shop action shares: resolve shop and buyer, decide in a worker thread, reply."""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.turn import Turn
from bot.platform.db import session_scope
from bot.platform.models import Buyer, Shop
from bot.shop.buyers import find_buyer
from bot.shop.profile import FEATURES, shop_offers
from bot.shop.shops import get_shop

logger = logging.getLogger(__name__)


@dataclass
class Reply:
    """One domain response, with the values for its placeholders."""

    response: str
    params: dict[str, Any] = field(default_factory=dict)
    buttons: list[dict[str, str]] = field(default_factory=list)
    custom: dict[str, Any] | None = None


@dataclass
class Outcome:
    """What a turn decided. ``follow_up`` is work to do once the decision is committed (a call
    to Meta, say), which gives the replies to utter instead of ``replies``."""

    replies: list[Reply]
    events: list[dict[str, Any]] = field(default_factory=list)
    follow_up: Callable[[], Awaitable[list[Reply]]] | None = None


class ShopAction(Action, abc.ABC):
    """Runs ``decide`` in one database transaction, off the event loop, and utters its replies."""

    # A feature flag of the shop (see bot.shop.profile.FEATURES) this action needs, if any.
    feature: str | None = None

    @abc.abstractmethod
    def decide(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer | None) -> Outcome:
        """Choose the replies and slot events for this turn."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        turn = Turn.from_tracker(tracker)
        try:
            outcome = await asyncio.to_thread(self._decide_in_transaction, turn)
        except Exception:
            logger.exception(
                "action failed", extra={"action": self.name(), "shop_id": turn.shop_id}
            )
            outcome = Outcome([Reply("utter_technical_problem")])
        replies = outcome.replies
        if outcome.follow_up is not None:
            try:
                replies = await outcome.follow_up()
            except Exception:
                logger.exception(
                    "action follow-up failed",
                    extra={"action": self.name(), "shop_id": turn.shop_id},
                )
                replies = [Reply("utter_technical_problem")]
        for reply in replies:
            dispatcher.utter_message(
                response=reply.response,
                buttons=reply.buttons or None,
                json_message=reply.custom,
                **reply.params,
            )
        return outcome.events

    def _decide_in_transaction(self, turn: Turn) -> Outcome:
        with session_scope() as session:
            shop = get_shop(session, turn.shop_id) if turn.shop_id else None
            if shop is None:
                logger.warning("message for an unknown shop", extra={"shop_id": turn.shop_id})
                return Outcome([Reply("utter_shop_unavailable")])
            if self.feature and not shop_offers(shop, self.feature):
                return Outcome(
                    [Reply("utter_feature_unavailable", {"feature_name": FEATURES[self.feature]})]
                )
            buyer = find_buyer(session, shop.id, turn.channel, turn.user_id)
            return self.decide(session, turn, shop, buyer)


class VerifiedBuyerAction(ShopAction, abc.ABC):
    """An action only verified buyers may use: others are told to register or verify first."""

    @abc.abstractmethod
    def decide_for(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer) -> Outcome:
        """Choose the replies and slot events for a verified buyer."""

    def decide(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer | None) -> Outcome:
        if buyer is None:
            return Outcome([Reply("utter_not_registered")])
        if buyer.verified_at is None:
            return Outcome([Reply("utter_verify_first")])
        return self.decide_for(session, turn, shop, buyer)
