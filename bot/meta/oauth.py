"""Connecting a shop's WhatsApp number or Instagram account with Meta's OAuth dialog.

An operator runs ``python -m bot shop connect-url`` and gives the link to the shop owner. The link
opens our ``/webhooks/connect/start`` (``open_link``), which gives the owner's browser a cookie
holding a random nonce and sends it on to Meta's dialog with a ``state`` that carries the nonce's
hash; Meta sends the owner back to the callback with a ``code`` and that state (``complete``).
Link and state are signed (so they cannot be made up or moved to another shop) and expire after
15 minutes; the state is accepted only from the browser holding the cookie, and its single-use
nonce is spent the first time it is, so a leaked, replayed or planted callback URL connects
nothing.

WhatsApp uses Facebook Login on graph.facebook.com (code → token → long-lived token →
``debug_token`` → business account → phone number). Instagram uses Instagram API with Instagram
Login: the code is exchanged at api.instagram.com, the token made long-lived and the professional
account id (the ``entry.id`` of webhooks) read on graph.instagram.com.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urljoin

import jwt
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.meta.graph import GraphClient, GraphError
from bot.meta.instagram_login import InstagramLogin, string_value
from bot.platform import secrets as secret_store
from bot.platform import signing
from bot.platform.db import session_scope
from bot.platform.models import Channel, OAuthState, utcnow
from bot.platform.settings import get_settings
from bot.shop import audit
from bot.shop.audit import AuditAction
from bot.shop.shops import ShopError, get_shop, link_account

logger = logging.getLogger(__name__)

STATE_TTL = dt.timedelta(minutes=15)
STATE_AUDIENCE = "trustguard-oauth"
LINK_AUDIENCE = "trustguard-connect-link"
# The connect channel's route that a printed link opens, beside the callback.
START_ROUTE = "start"
SCOPES: dict[str, tuple[str, ...]] = {
    Channel.WHATSAPP: ("whatsapp_business_management", "whatsapp_business_messaging"),
    Channel.INSTAGRAM: ("instagram_business_basic", "instagram_business_manage_messages"),
}
INSTAGRAM_MESSAGING = "instagram_business_manage_messages"
PLATFORM_NAMES: dict[str, str] = {
    Channel.WHATSAPP: "WhatsApp number",
    Channel.INSTAGRAM: "Instagram account",
}
_AGAIN = "Please ask for a new connect link (run the connect-url command again) and try once more."
_USED = f"This connect link has already been used or has expired. {_AGAIN}"
_OTHER_BROWSER = (
    "This page was opened in another browser than the connect link, or the browser did not keep "
    "our cookie. Please open the connect link again, in the browser you use to allow access, "
    "and finish there."
)


class OAuthError(ValueError):
    """Connecting failed; the message tells the shop owner (or operator) what to do."""


@dataclass(frozen=True)
class ConnectedAccount:
    shop_id: str
    platform: str
    account_id: str


@dataclass(frozen=True)
class Dialog:
    """Where the owner's browser goes from a connect link, and the nonce it must keep meanwhile
    (in a cookie that lasts ``expires_in`` seconds)."""

    url: str
    browser_nonce: str
    expires_in: int


def connect_link(session: Session, shop_id: str, platform: str) -> str:
    """The link for the shop owner, to our start route; records a single-use nonce for it."""
    if platform not in SCOPES:
        raise OAuthError(f"platform must be one of {', '.join(SCOPES)}, not {platform!r}.")
    _, redirect_uri = _dialog_settings(platform)
    if get_shop(session, shop_id) is None:
        raise OAuthError(f"There is no shop {shop_id!r}.")
    nonce = secrets.token_urlsafe(24)
    expires_at = utcnow() + STATE_TTL
    session.add(OAuthState(nonce=nonce, shop_id=shop_id, platform=platform, expires_at=expires_at))
    session.flush()
    claims = {
        "aud": LINK_AUDIENCE,
        "shop": shop_id,
        "platform": platform,
        "nonce": nonce,
        "exp": expires_at.replace(tzinfo=dt.timezone.utc),
    }
    link = signing.encode(claims, signing.Purpose.CONNECT_LINK)
    return f"{urljoin(redirect_uri, START_ROUTE)}?{urlencode({'link': link})}"


def open_link(link: str) -> Dialog:
    """Meta's dialog for a connect link that is ours, unused and unexpired, with a state bound to
    a fresh browser nonce: the state carries only the nonce's hash, so only the browser given
    the nonce can complete the connection."""
    claims = _verified(link, signing.Purpose.CONNECT_LINK, LINK_AUDIENCE)
    shop_id, platform, nonce = str(claims["shop"]), claims["platform"], str(claims["nonce"])
    app_id, redirect_uri = _dialog_settings(platform)
    if not _unspent(shop_id, platform, nonce):
        logger.warning("connect link used or unknown", extra={"shop_id": shop_id})
        raise OAuthError(_USED)
    browser_nonce = secrets.token_urlsafe(32)
    state = {
        "aud": STATE_AUDIENCE,
        "shop": shop_id,
        "platform": platform,
        "nonce": nonce,
        "browser": _digest(browser_nonce),
        "exp": claims["exp"],
    }
    query = {
        "client_id": app_id,
        "redirect_uri": redirect_uri,
        "state": signing.encode(state, signing.Purpose.OAUTH_STATE),
        "scope": ",".join(SCOPES[platform]),
        "response_type": "code",
    }
    return Dialog(
        url=f"{_dialog_url(platform)}?{urlencode(query)}",
        browser_nonce=browser_nonce,
        expires_in=max(1, int(claims["exp"] - time.time())),
    )


def https_only() -> bool:
    """Whether the callback is https (production): then the browser's nonce travels only over
    https. Development's plain-http callback could not send it back otherwise."""
    return (os.environ.get("META_OAUTH_REDIRECT_URI") or "").startswith("https://")


async def complete(
    state: str, code: str, graph: GraphClient, browser_nonce: str | None
) -> ConnectedAccount:
    """Spend the state's nonce, exchange the code for a long-lived token, find the account,
    store the token and link the account to the shop.

    ``browser_nonce`` is the cookie of the browser that came back: it must be the one the state
    was bound to. ``graph`` serves WhatsApp (graph.facebook.com); Instagram's hosts come from
    the settings. A forged, expired or replayed state, another browser, a refused code, or an
    account that belongs to another shop raises OAuthError; then no token is stored and no
    account linked. Another browser leaves the nonce unspent, for the owner's own browser.
    """
    claims = await asyncio.to_thread(
        _verified, state, signing.Purpose.OAUTH_STATE, STATE_AUDIENCE, "browser"
    )
    shop_id, platform, nonce = str(claims["shop"]), claims["platform"], str(claims["nonce"])
    if not browser_nonce or not hmac.compare_digest(str(claims["browser"]), _digest(browser_nonce)):
        # A spent link says so: the owner who reloads the page after connecting has no cookie.
        unspent = await asyncio.to_thread(_unspent, shop_id, platform, nonce)
        logger.warning("oauth callback from another browser", extra={"shop_id": shop_id})
        raise OAuthError(_OTHER_BROWSER if unspent else _USED)
    app_id, app_secret, redirect_uri = await asyncio.to_thread(_app_credentials, platform)
    await asyncio.to_thread(_spend_nonce, shop_id, platform, nonce)
    try:
        if platform == Channel.INSTAGRAM:
            settings = get_settings()
            login = InstagramLogin(
                settings.instagram_api_url,
                settings.instagram_graph_api_url,
                settings.graph_api_version,
            )
            token, expires_in, account_id = await _instagram_account(
                login, app_id, app_secret, redirect_uri, code
            )
        else:
            token, expires_in, account_id = await _whatsapp_account(
                graph, app_id, app_secret, redirect_uri, code
            )
    except GraphError as error:
        logger.warning(
            "meta refused the connection",
            extra={"shop_id": shop_id, "platform": platform, "graph_code": error.code},
        )
        raise OAuthError(f"Meta did not accept this authorisation. {_AGAIN}") from error
    expires_at = int(time.time()) + expires_in if isinstance(expires_in, int) else None
    await asyncio.to_thread(_connect, shop_id, platform, account_id, token, expires_at)
    logger.info(
        "shop connected to meta",
        extra={"shop_id": shop_id, "platform": platform, "account_id": account_id},
    )
    return ConnectedAccount(shop_id, platform, account_id)


async def _instagram_account(
    login: InstagramLogin, app_id: str, app_secret: str, redirect_uri: str, code: str
) -> tuple[str, Any, str]:
    """The long-lived token, its lifetime and the Instagram professional account id."""
    short = await login.exchange_code(app_id, app_secret, redirect_uri, code)
    granted = short.get("permissions")
    if isinstance(granted, str):
        granted = granted.split(",")
    if isinstance(granted, list) and INSTAGRAM_MESSAGING not in granted:
        logger.info("instagram connection without the messaging permission")
        raise OAuthError(
            "TrustGuard was not allowed to manage your Instagram messages: when Instagram asks, "
            f"leave that permission on. {_AGAIN}"
        )
    long = await login.long_lived(app_secret, string_value(short, "access_token"))
    token = string_value(long, "access_token")
    me = await login.account(token)
    return token, long.get("expires_in"), string_value(me, "user_id")


async def _whatsapp_account(
    graph: GraphClient, app_id: str, app_secret: str, redirect_uri: str, code: str
) -> tuple[str, Any, str]:
    """The long-lived token, its lifetime and the phone number id, through Facebook Login."""
    short = await graph.get(
        "oauth/access_token",
        None,
        {
            "client_id": app_id,
            "client_secret": app_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        },
    )
    long = await graph.get(
        "oauth/access_token",
        None,
        {
            "grant_type": "fb_exchange_token",
            "client_id": app_id,
            "client_secret": app_secret,
            "fb_exchange_token": string_value(short, "access_token"),
        },
    )
    token = string_value(long, "access_token")
    return token, long.get("expires_in"), await _phone_number_id(graph, token)


def _dialog_url(platform: str) -> str:
    if platform == Channel.INSTAGRAM:
        default = "https://www.instagram.com/oauth/authorize"
        return os.environ.get("INSTAGRAM_OAUTH_DIALOG_URL") or default
    default = f"https://www.facebook.com/{get_settings().graph_api_version}/dialog/oauth"
    return os.environ.get("META_OAUTH_DIALOG_URL") or default


def _verified(token: str, purpose: signing.Purpose, audience: str, *extra: str) -> dict[str, Any]:
    """A link's or a state's claims, if we signed it for ``purpose`` (with the current or the
    previous key), it has not expired and it names a platform we connect."""
    required = ["aud", "exp", "shop", "platform", "nonce", *extra]
    try:
        claims = signing.decode(token, purpose=purpose, audience=audience, required=required)
    except jwt.ExpiredSignatureError:
        # Raised only once the signature is known to be ours.
        raise OAuthError(f"This connect link has expired. {_AGAIN}") from None
    except jwt.InvalidTokenError:
        claims = None
    if claims is None or claims["platform"] not in SCOPES:
        logger.warning("oauth link or state invalid", extra={"purpose": purpose.value})
        raise OAuthError(f"This connect link is not valid. {_AGAIN}")
    return claims


def _digest(browser_nonce: str) -> str:
    return hashlib.sha256(browser_nonce.encode()).hexdigest()


def _unspent(shop_id: str, platform: str, nonce: str) -> bool:
    """Whether the nonce was issued for this shop and platform, and is unused and unexpired."""
    with session_scope() as session:
        row = session.get(OAuthState, nonce)
        return (
            row is not None
            and (row.shop_id, row.platform) == (shop_id, platform)
            and row.used_at is None
            and row.expires_at > utcnow()
        )


def _spend_nonce(shop_id: str, platform: str, nonce: str) -> None:
    """Mark the nonce used, exactly once even when two callbacks race."""
    now = utcnow()
    with session_scope() as session:
        spent = session.execute(
            sa.update(OAuthState)
            .where(
                OAuthState.nonce == nonce,
                OAuthState.shop_id == shop_id,
                OAuthState.platform == platform,
                OAuthState.used_at.is_(None),
                OAuthState.expires_at > now,
            )
            .values(used_at=now)
        ).rowcount
    if spent != 1:
        logger.warning("oauth state replayed or unknown", extra={"shop_id": shop_id})
        raise OAuthError(_USED)


def _app_id(platform: str) -> str | None:
    """Instagram Login takes the Instagram app id of the dashboard; it defaults to the app's."""
    return (
        secret_store.instagram_app_id() if platform == Channel.INSTAGRAM else secret_store.app_id()
    )


def _dialog_settings(platform: str) -> tuple[str, str]:
    """The app id the dialog takes and the redirect URI it sends the owner back to."""
    app_id = _app_id(platform)
    redirect_uri = os.environ.get("META_OAUTH_REDIRECT_URI")
    if not app_id or not redirect_uri:
        raise OAuthError(
            "Connecting to Meta is not set up: set META_APP_ID (for Instagram, or "
            "INSTAGRAM_APP_ID) and META_OAUTH_REDIRECT_URI "
            "(https://<your host>/webhooks/connect/callback)."
        )
    return app_id, redirect_uri


def _app_credentials(platform: str) -> tuple[str, str, str]:
    app_id = _app_id(platform)
    if platform == Channel.INSTAGRAM:
        app_secret = secret_store.instagram_app_secret()
    else:
        app_secret = next(iter(secret_store.app_secrets()), None)
    redirect_uri = os.environ.get("META_OAUTH_REDIRECT_URI")
    if not (app_id and app_secret and redirect_uri):
        raise OAuthError(
            "Connecting to Meta is not set up on this server "
            "(META_APP_ID, META_APP_SECRET, META_OAUTH_REDIRECT_URI)."
        )
    return app_id, app_secret, redirect_uri


async def _phone_number_id(graph: GraphClient, token: str) -> str:
    """The WhatsApp phone number the token speaks for: the first of the business account the
    owner shared."""
    debug = await graph.get("debug_token", token, {"input_token": token})
    data = debug.get("data")
    scopes = data.get("granular_scopes") if isinstance(data, dict) else None
    waba_ids = [
        entry.get("target_ids")
        for entry in (scopes if isinstance(scopes, list) else [])
        if isinstance(entry, dict) and entry.get("scope") == "whatsapp_business_management"
    ]
    if not waba_ids or not isinstance(waba_ids[0], list) or not waba_ids[0]:
        raise OAuthError(
            "No WhatsApp Business account was shared: when Meta asks, choose your business "
            f"account and its phone number. {_AGAIN}"
        )
    numbers = await graph.get(f"{quote(str(waba_ids[0][0]), safe='')}/phone_numbers", token, {})
    data = numbers.get("data")
    first = data[0] if isinstance(data, list) and data else None
    if not isinstance(first, dict) or not first.get("id"):
        raise OAuthError(
            "Your WhatsApp Business account has no phone number yet: add one in WhatsApp "
            f"Manager first. {_AGAIN}"
        )
    return str(first["id"])


def _connect(
    shop_id: str, platform: str, account_id: str, token: str, expires_at: int | None
) -> None:
    """Link first, store the token second, commit last: a refused link stores nothing. Both
    outcomes are audited (the refusal in a transaction of its own, as the link's rolls back)."""
    try:
        with session_scope() as session:
            shop = get_shop(session, shop_id)
            if shop is None:
                raise OAuthError(f"The shop {shop_id!r} no longer exists.")
            link_account(session, shop, platform, account_id)
            session.flush()
            secret_store.store_shop_token(shop_id, platform, token, account_id, expires_at)
            audit.record(
                session, shop_id, AuditAction.SHOP_CONNECTED, platform=platform, account=account_id
            )
    except (ShopError, sa.exc.IntegrityError):
        logger.warning(
            "account already belongs to another shop",
            extra={"shop_id": shop_id, "platform": platform, "account_id": account_id},
        )
        with session_scope() as session:
            audit.record(
                session,
                shop_id,
                AuditAction.SHOP_CONNECT_REFUSED,
                platform=platform,
                account=account_id,
                reason="account of another shop",
            )
        raise OAuthError(
            f"This {PLATFORM_NAMES[platform]} is already connected to another shop. Ask "
            "TrustGuard support to move it, or connect a different one."
        ) from None  # the database error's parameters (the token among them) stay out of it
