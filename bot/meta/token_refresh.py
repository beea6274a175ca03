"""Keeping shops' Instagram tokens alive: ``python -m bot shop refresh-tokens``, run daily.

Instagram Login's long-lived tokens last 60 days, and Meta refreshes one for another 60 only once
it is 24 hours old and before it expires; after that only a new connection helps. So a daily run
refreshes every Instagram token that expires within the window (or whose expiry is unknown),
stores the new one with its expiry and audits each attempt. A refused refresh leaves the stored
token as it was. WhatsApp tokens from Facebook Login cannot be refreshed this way: those about to
expire are reported for reconnection (system-user tokens have no expiry and need nothing).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from bot.meta.graph import GraphError
from bot.meta.instagram_login import InstagramLogin
from bot.platform import secrets as secret_store
from bot.platform.db import session_scope
from bot.platform.models import AuditEvent, Channel, utcnow
from bot.platform.secrets import SecretsUnavailable, StoredToken
from bot.platform.settings import get_settings
from bot.shop import audit
from bot.shop.audit import AuditAction

logger = logging.getLogger(__name__)

# Meta refuses to refresh a token younger than this.
MIN_AGE = dt.timedelta(hours=24)
PLATFORMS = (Channel.INSTAGRAM, Channel.WHATSAPP)
_STORED = (AuditAction.SHOP_CONNECTED.value, AuditAction.SHOP_TOKEN_REFRESHED.value)


class Result(str, enum.Enum):
    REFRESHED = "refreshed"
    NOT_DUE = "not due"
    TOO_NEW = "too new"  # connected or refreshed less than 24 hours ago
    SUPERSEDED = "superseded"  # the shop reconnected while its old token was being refreshed
    REFUSED = "refused"  # Meta will not refresh it: the owner must connect again
    FAILED = "failed"  # Meta or the secrets could not be reached: the next run tries again
    RECONNECT = "reconnect"  # expired, or a WhatsApp token about to


@dataclass(frozen=True)
class Outcome:
    shop_id: str
    platform: str
    result: Result
    expires_at: int | None = None
    reason: str = ""

    @property
    def needs_attention(self) -> bool:
        """Whether an operator must act (or at least look): the run then exits non-zero."""
        return self.result in (Result.REFUSED, Result.FAILED, Result.RECONNECT)


def refresh_tokens(shop_ids: Iterable[str], within_days: int) -> list[Outcome]:
    """One outcome for each token the shops have stored, in the order of ``shop_ids`` and then
    Instagram before WhatsApp; one shop's failure never stops the others'."""
    settings = get_settings()
    login = InstagramLogin(
        settings.instagram_api_url, settings.instagram_graph_api_url, settings.graph_api_version
    )
    horizon = within_days * 86400
    outcomes = []
    for shop_id in shop_ids:
        for platform in PLATFORMS:
            try:
                stored = secret_store.stored_shop_token(shop_id, platform)
            except SecretsUnavailable as error:
                outcomes.append(Outcome(shop_id, platform, Result.FAILED, reason=str(error)))
                continue
            if stored is not None:
                outcomes.append(_check(login, shop_id, platform, stored, horizon))
    return outcomes


def _check(
    login: InstagramLogin, shop_id: str, platform: str, stored: StoredToken, horizon: int
) -> Outcome:
    now = time.time()
    expires_at = stored.expires_at
    if expires_at is not None and expires_at > now + horizon:
        return Outcome(shop_id, platform, Result.NOT_DUE, expires_at)
    if platform != Channel.INSTAGRAM:
        if expires_at is None:
            return Outcome(shop_id, platform, Result.NOT_DUE)
        reason = "expired" if expires_at <= now else "WhatsApp tokens cannot be refreshed"
        return Outcome(shop_id, platform, Result.RECONNECT, expires_at, reason)
    if expires_at is not None and expires_at <= now:
        return Outcome(shop_id, platform, Result.RECONNECT, expires_at, "expired")
    if _stored_recently(shop_id, platform):
        return Outcome(shop_id, platform, Result.TOO_NEW, expires_at)
    return _refresh(login, shop_id, stored)


def _stored_recently(shop_id: str, platform: str) -> bool:
    """Whether the audit trail shows the token connected or refreshed less than MIN_AGE ago;
    a token it knows nothing about (stored by hand) is tried."""
    with session_scope() as session:
        rows = session.execute(
            sa.select(AuditEvent.detail)
            .where(
                AuditEvent.shop_id == shop_id,
                AuditEvent.action.in_(_STORED),
                AuditEvent.created_at > utcnow() - MIN_AGE,
            )
            .order_by(AuditEvent.id.desc())
        ).scalars()
        return any(isinstance(d, dict) and d.get("platform") == platform for d in rows)


def _refresh(login: InstagramLogin, shop_id: str, stored: StoredToken) -> Outcome:
    """Refresh at Meta, then swap the new token in for the old one, audited either way."""
    try:
        token, lifetime = asyncio.run(login.refresh(stored.access_token))
    except GraphError as error:
        reason = f"code {error.code}: {error.title}" if error.code else error.title
        result = Result.FAILED if error.retryable else Result.REFUSED
        return _failed(shop_id, stored, result, reason, error.code)
    expires_at = int(time.time()) + lifetime if lifetime else None
    try:
        replaced = secret_store.replace_shop_token(
            shop_id, Channel.INSTAGRAM, stored.access_token, token, expires_at
        )
    except SecretsUnavailable as error:
        return _failed(shop_id, stored, Result.FAILED, f"the new token was not stored: {error}")
    if not replaced:
        return Outcome(shop_id, Channel.INSTAGRAM, Result.SUPERSEDED)
    with session_scope() as session:
        audit.record(
            session,
            shop_id,
            AuditAction.SHOP_TOKEN_REFRESHED,
            platform=Channel.INSTAGRAM,
            expires=expiry_date(expires_at),
        )
    return Outcome(shop_id, Channel.INSTAGRAM, Result.REFRESHED, expires_at)


def _failed(
    shop_id: str, stored: StoredToken, result: Result, reason: str, code: int | None = None
) -> Outcome:
    logger.warning(
        "instagram token not refreshed",
        extra={"shop_id": shop_id, "graph_code": code, "retryable": result is Result.FAILED},
    )
    with session_scope() as session:
        audit.record(
            session,
            shop_id,
            AuditAction.SHOP_TOKEN_REFRESH_FAILED,
            platform=Channel.INSTAGRAM,
            reason=reason,
            graph_code=code,
            retried_tomorrow=result is Result.FAILED,
        )
    return Outcome(shop_id, Channel.INSTAGRAM, result, stored.expires_at, reason)


def expiry_date(expires_at: int | None) -> str:
    """``2025-03-01`` (UTC), or ``unknown``: what operators and the audit trail are shown."""
    if expires_at is None:
        return "unknown"
    return dt.datetime.fromtimestamp(expires_at, dt.timezone.utc).strftime("%Y-%m-%d")
