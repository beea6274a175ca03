"""Proving a phone number in any chat, so the orders a shop made for it become the buyer's.

"link my number 0803 123 4567" sends a code to that number on WhatsApp (the shop's
authentication template); typed back here, it binds the number (``action_verify_code``). On
WhatsApp a buyer whose number is withheld may instead tap WhatsApp's button that shares it.
"""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from actions.base import Outcome, Reply, ShopAction
from actions.turn import Turn
from actions.verification import code_refusal
from bot.meta.outbound import ASK_FOR_PHONE
from bot.meta.phone_codes import CodeNotSent, send_code_to_phone
from bot.platform.masking import mask_user_id
from bot.platform.models import Buyer, Channel, Shop
from bot.platform.phones import InvalidPhone, normalise_phone
from bot.platform.settings import get_settings
from bot.shop import audit
from bot.shop.audit import AuditAction
from bot.shop.buyers import find_identity
from bot.shop.codes import IssueRefused, issue_code
from bot.shop.profile import code_template_of
from bot.shop.shops import account_of_shop


class ActionLinkPhone(ShopAction):
    def name(self) -> str:
        return "action_link_phone"

    def decide(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer | None) -> Outcome:
        if buyer is None:
            return Outcome([Reply("utter_not_registered")])
        typed = turn.entities.get("phone_number")
        if not typed:
            if buyer.phone and buyer.phone_verified_at:
                return Outcome([Reply("utter_phone_linked", {"phone": mask_user_id(buyer.phone)})])
            return Outcome([self._ask_for_phone(session, turn)])
        try:
            phone = normalise_phone(typed)
        except InvalidPhone:
            return Outcome([Reply("utter_phone_invalid")])
        if buyer.phone == phone and buyer.phone_verified_at:
            return Outcome([Reply("utter_phone_already_linked", {"phone": mask_user_id(phone)})])
        template = code_template_of(shop)
        if template is None or account_of_shop(session, shop.id, Channel.WHATSAPP) is None:
            return Outcome([Reply("utter_phone_link_unavailable")])
        settings = get_settings()
        try:
            code = issue_code(
                session,
                buyer,
                key=settings.otp_secret,
                ttl_seconds=settings.otp_ttl_seconds,
                phone=phone,
            )
        except IssueRefused as refused:
            return Outcome([code_refusal(refused)])
        audit.record(
            session, shop.id, AuditAction.PHONE_CODE_SENT, buyer, phone=mask_user_id(phone)
        )
        minutes = math.ceil(settings.otp_ttl_seconds / 60)

        async def send() -> list[Reply]:
            params = {"phone": mask_user_id(phone), "minutes": minutes}
            try:
                await send_code_to_phone(shop.id, phone, code, template)
            except CodeNotSent:
                return [Reply("utter_phone_code_not_sent", params)]
            return [Reply("utter_phone_code_sent", params)]

        return Outcome([], follow_up=send)

    @staticmethod
    def _ask_for_phone(session: Session, turn: Turn) -> Reply:
        """On WhatsApp, an account whose number is withheld also gets the button that shares it."""
        if turn.channel == Channel.WHATSAPP and turn.shop_id:
            identity = find_identity(session, turn.shop_id, turn.channel, turn.user_id)
            if identity is not None and identity.wa_id is None:
                return Reply("utter_ask_phone", custom={ASK_FOR_PHONE: True})
        return Reply("utter_ask_phone")
