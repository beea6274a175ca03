"""``shop ...``: registering shops, linking and connecting their Meta accounts, their settings,
and keeping their tokens alive."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from bot.cli import shop_notices
from bot.cli.common import CliError, command, print_shop, require_shop, subgroup
from bot.meta import inbox
from bot.platform import db, secrets
from bot.platform.models import Channel, Shop, utcnow
from bot.shop import orders, owners, shops
from bot.shop import profile as shop_profile

if TYPE_CHECKING:
    from bot.meta.token_refresh import Outcome


def cmd_shop_add(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        try:
            shop = shops.add_shop(
                session,
                args.id,
                args.name,
                whatsapp_phone_id=args.whatsapp_phone_id,
                instagram_account_id=args.instagram_account_id,
            )
        except shops.ShopError as error:
            raise CliError(str(error)) from error
        print_shop(shop)


def cmd_shop_link(args: argparse.Namespace) -> None:
    if not (args.whatsapp_phone_id or args.instagram_account_id):
        raise CliError("give --whatsapp-phone-id and/or --instagram-account-id")
    with db.session_scope() as session:
        shop = require_shop(session, args.id)
        try:
            for channel, account_id in (
                (Channel.WHATSAPP, args.whatsapp_phone_id),
                (Channel.INSTAGRAM, args.instagram_account_id),
            ):
                if account_id:
                    shops.link_account(session, shop, channel, account_id)
        except shops.ShopError as error:
            raise CliError(str(error)) from error
        session.flush()
        session.refresh(shop)
        print_shop(shop)


def cmd_shop_connect_url(args: argparse.Namespace) -> None:
    from bot.meta import oauth

    with db.session_scope() as session:
        require_shop(session, args.id)
        try:
            print(oauth.connect_link(session, args.id, args.platform))
        except oauth.OAuthError as error:
            raise CliError(str(error)) from error


def cmd_shop_refresh_tokens(args: argparse.Namespace) -> None:
    """Refresh the Instagram tokens about to expire; exit non-zero if any token needs a person."""
    from bot.meta import token_refresh

    with db.session_scope() as session:
        if args.id:
            shop_ids = [require_shop(session, args.id).id]
        else:
            shop_ids = [shop.id for shop in shops.list_shops(session)]
    outcomes = token_refresh.refresh_tokens(shop_ids, args.within_days)
    for outcome in outcomes:
        print(f"{outcome.shop_id}\t{outcome.platform}\t{_refresh_line(outcome)}")
    attention = sum(outcome.needs_attention for outcome in outcomes)
    if attention:
        raise CliError(f"{attention} token(s) need attention: see the lines above")


def _refresh_line(outcome: Outcome) -> str:
    """What happened to one token and, when a person must act, what to do."""
    from bot.meta.token_refresh import Result, expiry_date

    expiry = expiry_date(outcome.expires_at)
    reconnect = (
        "send the owner a new connect link: python -m bot shop connect-url "
        f"--shop {outcome.shop_id} --platform {outcome.platform}"
    )
    result = outcome.result
    if result is Result.REFRESHED:
        return f"refreshed, expires {expiry}"
    if result is Result.NOT_DUE:
        return f"ok, expires {expiry}" if outcome.expires_at else "ok, does not expire"
    if result is Result.TOO_NEW:
        return f"ok, expires {expiry}; refreshable once 24 hours old (Meta's rule)"
    if result is Result.SUPERSEDED:
        return "ok, reconnected while refreshing: the new connection's token is kept"
    if result is Result.FAILED:
        return f"REFRESH FAILED ({outcome.reason}); token unchanged, the next run tries again"
    if result is Result.REFUSED:
        return f"REFRESH REFUSED ({outcome.reason}); token unchanged, {reconnect}"
    when = "expired" if outcome.reason == "expired" else "expires"
    return f"RECONNECT NEEDED: {when} {expiry}; {reconnect}"


def _print_tokens(shop_id: str) -> None:
    """When each of the shop's own tokens expires, so an operator sees a reconnection coming."""
    from bot.meta.token_refresh import PLATFORMS, expiry_date

    described = []
    try:
        for platform in PLATFORMS:
            stored = secrets.stored_shop_token(shop_id, platform)
            if stored is None:
                continue
            if stored.expires_at is None:
                described.append(f"{platform} (no expiry known)")
            else:
                state = "expired" if stored.expires_at <= time.time() else "until"
                described.append(f"{platform} {state} {expiry_date(stored.expires_at)}")
    except secrets.SecretsUnavailable as error:
        raise CliError(str(error)) from error
    print("tokens: " + (", ".join(described) or "none"))


def cmd_shop_settings(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        shop = require_shop(session, args.id)
        try:
            shop_profile.update_settings(
                shop,
                tone=args.tone,
                welcome=args.welcome,
                contact_line=args.contact_line,
                enable=args.enable,
                disable=args.disable,
                code_template=(
                    shop_profile.CodeTemplate(args.code_template, args.code_template_language)
                    if args.code_template
                    else None
                ),
            )
            if args.owner_whatsapp or args.remove_owner_whatsapp:
                owners.set_owner_numbers(shop, _owners_after(shop, args))
        except shop_profile.ProfileError as error:
            raise CliError(str(error)) from error
        session.flush()
        for line in shop_profile.describe_settings(shop_profile.load_profile(session, shop)):
            print(line)
        print("owners on WhatsApp: " + (", ".join(owners.owner_numbers(shop)) or "none"))


def _owners_after(shop: Shop, args: argparse.Namespace) -> list[str]:
    """The owners' numbers with those given added and those to remove taken out (any spelling)."""
    removed = set(owners.checked_numbers(args.remove_owner_whatsapp))
    kept = [number for number in owners.owner_numbers(shop) if number not in removed]
    return owners.checked_numbers([*kept, *args.owner_whatsapp])


def cmd_shop_demo(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        shop = shops.ensure_demo_shop(session)
        if shop:
            print(f"created demo shop {shop.id!r} ({shop.name})")


def cmd_shop_list(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        for shop in shops.list_shops(session):
            print_shop(shop)


def cmd_shop_show(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        shop = require_shop(session, args.id)
        print_shop(shop)
        _print_tokens(shop.id)
        counts: dict[str, int] = {}
        for order in orders.list_shop_orders(session, shop.id):
            counts[order.status] = counts.get(order.status, 0) + 1
        print("orders: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
        failures = inbox.recent_failures(session, shop.id, utcnow() - dt.timedelta(hours=24))
        described = ", ".join(f"{channel} {n}x ({reason})" for channel, reason, n in failures)
        print("failed sends, last 24 hours: " + (described or "none"))


def _days(typed: str) -> int:
    """A refresh window inside a 60-day token's life, so a fresh token is never due."""
    try:
        days = int(typed)
    except ValueError:
        days = 0
    if not 1 <= days <= 59:
        raise argparse.ArgumentTypeError(f"{typed!r} is not a whole number of days from 1 to 59")
    return days


def register(groups: Any) -> None:
    shop = subgroup(groups, "shop", "shops and their channel accounts")
    add = command(shop, "add", cmd_shop_add, "register a shop")
    add.add_argument("--id", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--whatsapp-phone-id")
    add.add_argument("--instagram-account-id")
    link = command(shop, "link", cmd_shop_link, "connect a WhatsApp number or Instagram account")
    link.add_argument("id")
    link.add_argument("--whatsapp-phone-id")
    link.add_argument("--instagram-account-id")
    connect = command(
        shop, "connect-url", cmd_shop_connect_url, "the link a shop owner opens to connect Meta"
    )
    connect.add_argument("--shop", dest="id", required=True)
    connect.add_argument(
        "--platform", required=True, choices=[Channel.WHATSAPP.value, Channel.INSTAGRAM.value]
    )
    refresh = command(
        shop,
        "refresh-tokens",
        cmd_shop_refresh_tokens,
        "refresh Instagram tokens about to expire (run daily); report WhatsApp ones",
    )
    refresh.add_argument(
        "--within-days",
        type=_days,
        default=10,
        metavar="DAYS",
        help="refresh tokens expiring within this many days (1-59, default 10)",
    )
    refresh.add_argument("--shop", dest="id", metavar="SHOP", help="only this shop")
    settings = command(shop, "settings", cmd_shop_settings, "show or change tone, welcome, flags")
    settings.add_argument("id")
    settings.add_argument("--tone", choices=shop_profile.TONES)
    settings.add_argument("--welcome", help="e.g. 'Welcome to {shop_name}, {buyer_name}!'")
    settings.add_argument("--contact-line", help="e.g. 'Call us on 0803 123 4567.'")
    settings.add_argument(
        "--code-template",
        help="the approved WhatsApp authentication template that sends buyers a code to prove "
        "their number, e.g. trustguard_code",
    )
    settings.add_argument("--code-template-language", default="en", help="e.g. en or en_US")
    settings.add_argument(
        "--owner-whatsapp",
        action="append",
        default=[],
        metavar="NUMBER",
        help="an owner's WhatsApp number, told of confirmations, cancellations and receipts, "
        "who may send commands to the shop (repeat for several)",
    )
    settings.add_argument("--remove-owner-whatsapp", action="append", default=[], metavar="NUMBER")
    settings.add_argument(
        "--enable", action="append", default=[], choices=list(shop_profile.FEATURES)
    )
    settings.add_argument(
        "--disable", action="append", default=[], choices=list(shop_profile.FEATURES)
    )
    shop_notices.register(shop)
    command(shop, "list", cmd_shop_list, "list shops")
    show = command(shop, "show", cmd_shop_show, "one shop and its order counts")
    show.add_argument("id")
    command(shop, "demo", cmd_shop_demo, "create the demo shop if there is no shop at all")
