"""One-time codes in the chat: issuing, re-sending and checking them."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy.orm import Session

from actions.base import Outcome, Reply, ShopAction
from actions.turn import Turn
from bot.platform.masking import mask_user_id
from bot.platform.models import Buyer, Shop
from bot.platform.settings import get_settings
from bot.shop import audit
from bot.shop.audit import AuditAction
from bot.shop.buyers import mark_verified, prove_phone
from bot.shop.codes import (
    IssueRefused,
    Limit,
    Verdict,
    issue_code,
    open_phone_challenge,
    verify_code,
)
from bot.shop.tokens import issue_buyer_token

_VERDICT_REPLIES = {
    Verdict.LOCKED: "utter_code_locked",
    Verdict.EXPIRED: "utter_code_expired",
    Verdict.USED: "utter_code_used",
    Verdict.NO_CODE: "utter_no_code_issued",
}


def send_new_code(session: Session, buyer: Buyer, response: str) -> Outcome:
    """Issue a code and say it with ``response``; explain instead when the buyer must wait."""
    settings = get_settings()
    try:
        code = issue_code(
            session, buyer, key=settings.otp_secret, ttl_seconds=settings.otp_ttl_seconds
        )
    except IssueRefused as refused:
        return Outcome([code_refusal(refused)])
    audit.record(session, buyer.shop_id, AuditAction.CODE_ISSUED, buyer)
    minutes = math.ceil(settings.otp_ttl_seconds / 60)
    return Outcome([Reply(response, {"code": code, "minutes": minutes})])


def code_refusal(refused: IssueRefused) -> Reply:
    """What the buyer is told when no new code may be issued yet."""
    wait = refused.retry_after.total_seconds()
    if refused.limit is Limit.COOLING_DOWN:
        return _cooling_down(refused.retry_after)
    if refused.limit is Limit.HOURLY:
        return Reply("utter_code_limit_reached", {"minutes": math.ceil(wait / 60)})
    return Reply("utter_code_recently_sent", {"seconds": math.ceil(wait)})


def _cooling_down(retry_after: dt.timedelta) -> Reply:
    """Too many wrong codes: when the buyer may try again, in plain words."""
    return Reply("utter_code_locked_out", {"wait": wait_in_words(retry_after)})


def wait_in_words(wait: dt.timedelta) -> str:
    """``5 minutes``, ``1 hour``, ``24 hours``: rounded up, so the buyer never comes back early."""
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes > 1 else ''}"
    hours = math.ceil(minutes / 60)
    return f"{hours} hour{'s' if hours > 1 else ''}"


class ActionVerifyCode(ShopAction):
    def name(self) -> str:
        return "action_verify_code"

    def decide(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer | None) -> Outcome:
        if buyer is None:
            return Outcome([Reply("utter_not_registered")])
        # A verified buyer may still be proving a phone number with a code sent to it.
        if buyer.verified_at is not None and open_phone_challenge(session, buyer) is None:
            return Outcome([Reply("utter_already_verified")])
        typed = turn.entities.get("otp_code")
        if not typed:
            return Outcome([Reply("utter_ask_code")])

        settings = get_settings()
        result = verify_code(session, buyer, typed, key=settings.otp_secret)
        if result.verdict is Verdict.VERIFIED and result.phone:
            buyer = prove_phone(session, buyer, result.phone)
            mark_verified(buyer)
            audit.record(session, shop.id, AuditAction.BUYER_PHONE_PROVEN, buyer, proof="code")
            return Outcome([Reply("utter_phone_linked", {"phone": mask_user_id(result.phone)})])
        if result.verdict is Verdict.VERIFIED:
            mark_verified(buyer)
            audit.record(session, shop.id, AuditAction.CODE_VERIFIED, buyer)
            return Outcome([self._welcome_verified(session, shop, buyer)])
        if result.verdict in (Verdict.WRONG, Verdict.LOCKED_OUT):
            audit.record(
                session, shop.id, AuditAction.CODE_FAILED, buyer, attempts_left=result.attempts_left
            )
        if result.verdict is Verdict.WRONG:
            if result.attempts_left == 1:
                return Outcome([Reply("utter_code_wrong_last")])
            return Outcome([Reply("utter_code_wrong", {"attempts_left": result.attempts_left})])
        if result.retry_after is not None:
            if result.verdict is Verdict.LOCKED_OUT:
                minutes = int(result.retry_after.total_seconds() // 60)
                audit.record(session, shop.id, AuditAction.CODE_LOCKED_OUT, buyer, minutes=minutes)
            return Outcome([_cooling_down(result.retry_after)])
        return Outcome([Reply(_VERDICT_REPLIES[result.verdict])])

    @staticmethod
    def _welcome_verified(session: Session, shop: Shop, buyer: Buyer) -> Reply:
        """A signed session for the buyer portal, sent only when there is a portal to open."""
        settings = get_settings()
        issued = issue_buyer_token(settings, shop_id=shop.id, buyer_id=buyer.id)
        audit.record(session, shop.id, AuditAction.TOKEN_ISSUED, buyer, jti=issued["claims"]["jti"])
        if not settings.buyer_portal_url:
            return Reply("utter_verified")
        params: dict[str, Any] = {
            "portal_link": f"{settings.buyer_portal_url}/#token={issued['token']}",
            "minutes": settings.jwt_ttl_seconds // 60,
        }
        return Reply("utter_verified_portal", params)


class ActionResendCode(ShopAction):
    def name(self) -> str:
        return "action_resend_code"

    def decide(self, session: Session, turn: Turn, shop: Shop, buyer: Buyer | None) -> Outcome:
        if buyer is None:
            return Outcome([Reply("utter_not_registered")])
        if buyer.verified_at is not None:
            return Outcome([Reply("utter_already_verified")])
        return send_new_code(session, buyer, "utter_code_sent")
