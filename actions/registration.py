"""Greeting and registration: a new buyer gets an account and a code, a verified one a welcome."""

from __future__ import annotations

from sqlalchemy.orm import Session

from actions.base import Outcome, Reply, ShopAction
from actions.turn import Turn
from actions.verification import send_new_code
from bot.platform.models import Buyer, Shop
from bot.shop import audit
from bot.shop.audit import AuditAction
from bot.shop.buyers import get_or_create_buyer


class ActionRegisterBuyer(ShopAction):
    def name(self) -> str:
        return "action_register_buyer"

    def decide(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer | None) -> Outcome:
        if buyer is None:
            buyer, created = get_or_create_buyer(
                session, shop.id, turn.channel, turn.user_id, turn.display_name
            )
            if created:
                audit.record(
                    session, shop.id, AuditAction.BUYER_REGISTERED, buyer, channel=turn.channel
                )
        if buyer.verified_at is not None:
            return Outcome([Reply("utter_welcome_back")])
        return send_new_code(session, buyer, "utter_welcome_new")
