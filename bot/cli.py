"""``python -m bot``: the admin command line for shop owners and operators."""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, NoReturn

from sqlalchemy.exc import SQLAlchemyError

from bot import audit, buyers, db, orders, shop_profile, shops
from bot.audit import AuditAction
from bot.models import Channel, Order, OrderStatus, Shop
from bot.money import format_naira, parse_naira
from bot.order_ids import normalize_order_id
from bot.settings import PROJECT_ROOT, ConfigurationError, load_dotenv

if TYPE_CHECKING:
    from bot.token_refresh import Outcome

ENV_HEADER = """\
# Written by `make run`. The secrets here are random and local to this machine. For a real Meta
# app, replace META_APP_SECRET with the app's secret and META_VERIFY_TOKEN with the token you
# enter in its webhook settings (see README, "Connecting a shop").
"""


def _generated_settings() -> Dict[str, str]:
    return {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "OTP_SECRET": secrets.token_urlsafe(48),
        "RASA_API_TOKEN": secrets.token_urlsafe(32),
        "DEFAULT_SHOP": shops.DEMO_SHOP_ID,
        "META_APP_SECRET": secrets.token_hex(16),
        "META_VERIFY_TOKEN": secrets.token_urlsafe(16),
    }


class CliError(Exception):
    """Shown to the user as one line, with exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _print_shop(shop: Shop) -> None:
    accounts = ", ".join(f"{a.channel}:{a.account_id}" for a in shop.accounts) or "none"
    print(f"{shop.id}\t{shop.name}\taccounts: {accounts}")


def _print_order(order: Order) -> None:
    print(
        f"{order.id}\t{order.status}\t{format_naira(order.amount_kobo)}\t{order.description}"
        f"\tupdated {order.updated_at:%Y-%m-%d %H:%M} UTC"
        + (f"\treason: {order.cancel_reason}" if order.cancel_reason else "")
    )


def _require_shop(session, shop_id: str) -> Shop:
    shop = shops.get_shop(session, shop_id)
    if shop is None:
        raise CliError(f"no shop {shop_id!r} (see `python -m bot shop list`)")
    return shop


def _order_id(typed: str) -> str:
    order_id = normalize_order_id(typed)
    if order_id is None:
        raise CliError(f"{typed!r} is not an order id like ORD-7F3K9Q")
    return order_id


def cmd_env_init(args: argparse.Namespace) -> None:
    """Write what .env lacks, with fresh random secrets; never change a value already there."""
    path = PROJECT_ROOT / ".env"
    existing = path.read_text() if path.exists() else ENV_HEADER
    present = {
        line.split("=", 1)[0].strip()
        for line in existing.splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    missing = {k: v for k, v in _generated_settings().items() if k not in present}
    if not missing:
        print(f"{path} is complete; left as it is")
        return
    added = "".join(f"{key}={value}\n" for key, value in missing.items())
    path.write_text(existing.rstrip("\n") + "\n" + added)
    path.chmod(0o600)
    print(f"{path}: added {', '.join(missing)}")


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    db.migrate()
    print("database is up to date")


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
            raise CliError(str(error))
        _print_shop(shop)


def cmd_shop_link(args: argparse.Namespace) -> None:
    if not (args.whatsapp_phone_id or args.instagram_account_id):
        raise CliError("give --whatsapp-phone-id and/or --instagram-account-id")
    with db.session_scope() as session:
        shop = _require_shop(session, args.id)
        try:
            for channel, account_id in (
                ("whatsapp", args.whatsapp_phone_id),
                ("instagram", args.instagram_account_id),
            ):
                if account_id:
                    shops.link_account(session, shop, channel, account_id)
        except shops.ShopError as error:
            raise CliError(str(error))
        session.flush()
        session.refresh(shop)
        _print_shop(shop)


def cmd_shop_connect_url(args: argparse.Namespace) -> None:
    from bot import oauth

    with db.session_scope() as session:
        _require_shop(session, args.id)
        try:
            print(oauth.authorization_url(session, args.id, args.platform))
        except oauth.OAuthError as error:
            raise CliError(str(error))


def cmd_shop_refresh_tokens(args: argparse.Namespace) -> None:
    """Refresh the Instagram tokens about to expire; exit non-zero if any token needs a person."""
    from bot import token_refresh

    with db.session_scope() as session:
        if args.id:
            shop_ids = [_require_shop(session, args.id).id]
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
    from bot.token_refresh import Result, expiry_date

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
    from bot import secret_store
    from bot.token_refresh import PLATFORMS, expiry_date

    described = []
    try:
        for platform in PLATFORMS:
            stored = secret_store.stored_shop_token(shop_id, platform)
            if stored is None:
                continue
            if stored.expires_at is None:
                described.append(f"{platform} (no expiry known)")
            else:
                state = "expired" if stored.expires_at <= time.time() else "until"
                described.append(f"{platform} {state} {expiry_date(stored.expires_at)}")
    except secret_store.SecretsUnavailable as error:
        raise CliError(str(error))
    print("tokens: " + (", ".join(described) or "none"))


def cmd_shop_settings(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        shop = _require_shop(session, args.id)
        try:
            shop_profile.update_settings(
                shop,
                tone=args.tone,
                welcome=args.welcome,
                contact_line=args.contact_line,
                enable=args.enable,
                disable=args.disable,
            )
        except shop_profile.ProfileError as error:
            raise CliError(str(error))
        session.flush()
        for line in shop_profile.describe_settings(shop_profile.load_profile(session, shop)):
            print(line)


def cmd_responses_export(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        shop = _require_shop(session, args.shop)
        text = shop_profile.export_responses(shop_profile.load_profile(session, shop))
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")


def cmd_responses_import(args: argparse.Namespace) -> None:
    try:
        text = Path(args.file).read_text()
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error.strerror}")
    with db.session_scope() as session:
        shop = _require_shop(session, args.shop)
        try:
            own = shop_profile.import_responses(session, shop, text)
        except shop_profile.ProfileError as error:
            raise CliError(f"{args.file} was not imported, nothing changed:\n{error}")
    print(f"{args.shop} now has {len(own)} own response(s): {', '.join(own) or 'none'}")


def cmd_responses_diff(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        shop = _require_shop(session, args.shop)
        print(shop_profile.diff_responses(shop_profile.load_profile(session, shop)), end="")


def cmd_shop_demo(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        shop = shops.ensure_demo_shop(session)
        if shop:
            print(f"created demo shop {shop.id!r} ({shop.name})")


def cmd_shop_list(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        for shop in shops.list_shops(session):
            _print_shop(shop)


def cmd_shop_show(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        shop = _require_shop(session, args.id)
        _print_shop(shop)
        _print_tokens(shop.id)
        counts = {}
        for order in orders.list_shop_orders(session, shop.id):
            counts[order.status] = counts.get(order.status, 0) + 1
        print("orders: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))


def cmd_order_create(args: argparse.Namespace) -> None:
    try:
        amount = parse_naira(args.amount)
    except ValueError as error:
        raise CliError(str(error))
    with db.session_scope() as session:
        shop = _require_shop(session, args.shop)
        buyer, _ = buyers.get_or_create_buyer(session, shop.id, args.channel, args.buyer)
        try:
            order = orders.create_order(session, buyer, amount, args.description)
        except orders.OrderError as error:
            raise CliError(str(error))
        audit.record(session, shop.id, AuditAction.ORDER_CREATED, buyer, order_id=order.id)
        _print_order(order)
        print(order.id)


def cmd_order_list(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        _require_shop(session, args.shop)
        for order in orders.list_shop_orders(session, args.shop, args.status):
            _print_order(order)


def cmd_order_show(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        _require_shop(session, args.shop)
        order = orders.get_shop_order(session, args.shop, _order_id(args.order_id))
        if order is None:
            raise CliError(f"shop {args.shop!r} has no order {args.order_id}")
        _print_order(order)


def cmd_order_set_status(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        _require_shop(session, args.shop)
        order = orders.get_shop_order(session, args.shop, _order_id(args.order_id))
        if order is None:
            raise CliError(f"shop {args.shop!r} has no order {args.order_id}")
        before = order.status
        change = orders.change_status(session, order, args.status)
        if change is orders.Change.NOT_ALLOWED:
            raise CliError(f"an order that is {order.status} cannot become {args.status}")
        if change is orders.Change.DONE:
            audit.record(
                session,
                args.shop,
                AuditAction.ORDER_STATUS_CHANGED,
                order_id=order.id,
                before=before,
                after=order.status,
            )
        _print_order(order)


def cmd_audit_tail(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        _require_shop(session, args.shop)
        for event in audit.tail(session, args.shop, args.limit):
            detail = " ".join(f"{k}={v}" for k, v in sorted(event.detail.items()))
            when = f"{event.created_at:%Y-%m-%d %H:%M:%S}"
            print(f"{when}\t{event.action}\t{event.buyer or '-'}\t{detail}")


def _days(typed: str) -> int:
    """A refresh window inside a 60-day token's life, so a fresh token is never due."""
    try:
        days = int(typed)
    except ValueError:
        days = 0
    if not 1 <= days <= 59:
        raise argparse.ArgumentTypeError(f"{typed!r} is not a whole number of days from 1 to 59")
    return days


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bot", description="TrustGuard admin for owners and operators")
    groups = parser.add_subparsers(dest="group", required=True, parser_class=_Parser)

    def command(group, name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text)
        sub.set_defaults(handler=handler)
        return sub

    def subgroup(name: str, help_text: str):
        return groups.add_parser(name, help=help_text).add_subparsers(
            dest="command", required=True, parser_class=_Parser
        )

    env = subgroup("env", "local configuration")
    command(env, "init", cmd_env_init, "write .env with fresh random secrets if it is missing")

    database = subgroup("db", "the app database")
    command(database, "upgrade", cmd_db_upgrade, "apply Alembic migrations")

    shop = subgroup("shop", "shops and their channel accounts")
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
    connect.add_argument("--platform", required=True, choices=["whatsapp", "instagram"])
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
        "--enable", action="append", default=[], choices=list(shop_profile.FEATURES)
    )
    settings.add_argument(
        "--disable", action="append", default=[], choices=list(shop_profile.FEATURES)
    )
    command(shop, "list", cmd_shop_list, "list shops")
    show = command(shop, "show", cmd_shop_show, "one shop and its order counts")
    show.add_argument("id")
    command(shop, "demo", cmd_shop_demo, "create the demo shop if there is no shop at all")

    order = subgroup("order", "orders")
    create = command(order, "create", cmd_order_create, "create a pending order for a buyer")
    create.add_argument("--shop", required=True)
    create.add_argument("--channel", required=True, choices=[c.value for c in Channel])
    create.add_argument("--buyer", required=True, help="the buyer's id on that channel")
    create.add_argument("--amount", required=True, help="in Naira, e.g. 25000 or 25,000.50")
    create.add_argument("--description", required=True)
    listing = command(order, "list", cmd_order_list, "a shop's orders")
    listing.add_argument("--shop", required=True)
    listing.add_argument("--status", choices=[s.value for s in OrderStatus])
    show_order = command(order, "show", cmd_order_show, "one order")
    show_order.add_argument("order_id")
    show_order.add_argument("--shop", required=True)
    status = command(
        order, "set-status", cmd_order_set_status, "move an order along (e.g. shipped)"
    )
    status.add_argument("order_id")
    status.add_argument("--shop", required=True)
    status.add_argument("--status", required=True, choices=[s.value for s in OrderStatus])

    responses = subgroup("responses", "a shop's own wording of the assistant's responses")
    export = command(responses, "export", cmd_responses_export, "every response as buyers get it")
    export.add_argument("--shop", required=True)
    export.add_argument("--out", help="write to this file instead of the terminal")
    imported = command(responses, "import", cmd_responses_import, "make a file the shop's wording")
    imported.add_argument("--shop", required=True)
    imported.add_argument("file")
    diff = command(responses, "diff", cmd_responses_diff, "the shop's wording against the default")
    diff.add_argument("--shop", required=True)

    audit_group = subgroup("audit", "the audit trail")
    tail = command(audit_group, "tail", cmd_audit_tail, "a shop's latest audit events")
    tail.add_argument("--shop", required=True)
    tail.add_argument("--limit", type=int, default=20)
    return parser


def main(argv: List[str] | None = None) -> int:
    load_dotenv()
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (CliError, ConfigurationError) as error:
        print(f"python -m bot: error: {error}", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        first_line = str(getattr(error, "orig", None) or error).splitlines()[0]
        print(f"python -m bot: database error: {first_line}", file=sys.stderr)
        return 1
    return 0
