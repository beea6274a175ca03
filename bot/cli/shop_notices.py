"""``shop template`` and ``shop webhook``: how a shop's buyers and owners are told of orders
outside the 24-hour window (WhatsApp templates), and where its own system hears of them."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import CliError, command, require_shop
from bot.platform import db
from bot.shop import events
from bot.shop import notice_templates as templates
from bot.shop.profile import ProfileError


def cmd_shop_template(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        shop = require_shop(session, args.id)
        try:
            kind = templates.parse_kind(args.kind)
            if args.remove:
                change = None
            elif args.name:
                fields = [field.strip() for field in args.fields.split(",") if field.strip()]
                change = templates.checked(args.name, args.language, fields)
            else:
                raise CliError("give --name (and --fields), or --remove")
        except ProfileError as error:
            raise CliError(str(error)) from error
        templates.set_templates(shop, {kind: change})
        for line in templates.describe_templates(shop):
            print(line)


def cmd_shop_webhook(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        require_shop(session, args.id)
        if args.remove:
            removed = events.remove_webhook(session, args.id)
            print("webhook removed" if removed else "no webhook to remove")
            return
        if not args.url:
            webhook = events.webhook_of(session, args.id)
            print(f"webhook: {webhook.url}" if webhook else "webhook: none")
            return
        try:
            secret = events.set_webhook(session, args.id, args.url, args.rotate_secret)
        except events.WebhookError as error:
            raise CliError(str(error)) from error
        print(f"webhook: {args.url.strip()}")
        if secret:
            print("signing secret (shown only now; events carry X-TrustGuard-Signature):")
            print(secret)


def register(shop: Any) -> None:
    kinds = ", ".join(kind.value for kind in templates.NoticeKind)
    template = command(
        shop,
        "template",
        cmd_shop_template,
        "the approved WhatsApp template of a notification, used outside the 24-hour window",
    )
    template.add_argument("id")
    template.add_argument("kind", metavar="NOTIFICATION", help=kinds)
    template.add_argument("--name", help="the template's name in WhatsApp Manager")
    template.add_argument("--language", default="en", help="e.g. en or en_US")
    template.add_argument(
        "--fields",
        default="",
        help="what fills the body's {{1}}, {{2}}…, in order, separated by commas: "
        + ", ".join(templates.FIELDS),
    )
    template.add_argument("--remove", action="store_true")
    webhook = command(
        shop, "webhook", cmd_shop_webhook, "where the shop's own system hears of its orders"
    )
    webhook.add_argument("id")
    webhook.add_argument("--url", help="https://… (http:// only to localhost)")
    webhook.add_argument("--rotate-secret", action="store_true", help="make a new signing secret")
    webhook.add_argument("--remove", action="store_true")
