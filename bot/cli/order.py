"""``order ...``: creating orders for buyers, listing them and moving them along."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy.orm import Session

from bot.cli.common import (
    CliError,
    command,
    order_id,
    print_order,
    print_receipt,
    require_shop,
    subgroup,
)
from bot.meta.webhooks import WhatsAppUser
from bot.meta.whatsapp_users import identity_of_sender
from bot.platform import db
from bot.platform.models import Buyer, Channel, Order, OrderStatus
from bot.platform.phones import InvalidPhone, normalise_phone
from bot.shop import buyers, order_changes, orders, receipts
from bot.shop.money import parse_naira

# Who the audit trail says changed an order from the command line.
CLI = "cli"


def cmd_order_create(args: argparse.Namespace) -> None:
    try:
        amount = parse_naira(args.amount)
    except ValueError as error:
        raise CliError(str(error)) from error
    with db.session_scope() as session:
        shop = require_shop(session, args.shop)
        buyer = _buyer_of(session, shop.id, args)
        try:
            order = orders.create_order(
                session, buyer, amount, args.description, reference=args.reference
            )
        except orders.OrderError as error:
            raise CliError(str(error)) from error
        order_changes.created(session, order, by=CLI)
        print_order(order)
        print(order.id)


def _buyer_of(session: Session, shop_id: str, args: argparse.Namespace) -> Buyer:
    """The buyer an order is for: by phone number (whoever proves it sees the order), or by an
    account on a channel. A WhatsApp account given by its number is that number's buyer."""
    if args.phone:
        try:
            phone = normalise_phone(args.phone)
        except InvalidPhone as error:
            raise CliError(f"--phone {args.phone!r}: {error}") from error
        return buyers.buyer_for_phone(session, shop_id, phone)[0]
    if not (args.channel and args.buyer):
        raise CliError("say who the order is for: --phone NUMBER, or --channel and --buyer")
    if args.channel == Channel.WHATSAPP:
        try:
            return buyers.buyer_for_phone(session, shop_id, normalise_phone(args.buyer))[0]
        except InvalidPhone:
            # A business-scoped user id (a buyer whose number WhatsApp withholds).
            user = WhatsAppUser(wa_id=None, user_id=args.buyer)
            identity = identity_of_sender(session, shop_id, user, None)
            return session.get(Buyer, identity.buyer_id)
    return buyers.get_or_create_buyer(session, shop_id, args.channel, args.buyer)[0]


def cmd_order_list(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        require_shop(session, args.shop)
        for order in orders.list_shop_orders(session, args.shop, args.status):
            print_order(order)


def _shop_order(session: Session, args: argparse.Namespace) -> Order:
    require_shop(session, args.shop)
    order = orders.get_shop_order(session, args.shop, order_id(args.order_id))
    if order is None:
        raise CliError(f"shop {args.shop!r} has no order {args.order_id}")
    return order


def cmd_order_show(args: argparse.Namespace) -> None:
    """The order, then each of its receipts with its verdict."""
    with db.session_scope() as session:
        order = _shop_order(session, args)
        print_order(order)
        for receipt in receipts.order_receipts(session, args.shop, order.id):
            print_receipt(receipt)


def cmd_order_receipts(args: argparse.Namespace) -> None:
    """A shop's receipts, newest first; ``--flagged``: only those to look at."""
    with db.session_scope() as session:
        require_shop(session, args.shop)
        for receipt in receipts.shop_receipts(session, args.shop, flagged_only=args.flagged):
            print_receipt(receipt)


def cmd_order_set_status(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        order = _shop_order(session, args)
        change = order_changes.move(session, order, args.status, by=CLI, reason=args.reason)
        if change is orders.Change.NOT_ALLOWED:
            raise CliError(f"an order that is {order.status} cannot become {args.status}")
        print_order(order)


def register(groups: Any) -> None:
    order = subgroup(groups, "order", "orders")
    create = command(order, "create", cmd_order_create, "create a pending order for a buyer")
    create.add_argument("--shop", required=True)
    create.add_argument(
        "--phone", help="the buyer's phone number, e.g. 0803 123 4567 (seen by whoever proves it)"
    )
    create.add_argument("--channel", choices=[c.value for c in Channel])
    create.add_argument(
        "--buyer", help="the buyer's id on that channel (WhatsApp: number or user id)"
    )
    create.add_argument("--amount", required=True, help="in Naira, e.g. 25000 or 25,000.50")
    create.add_argument("--description", required=True)
    create.add_argument("--reference", help="the shop's own id of the order (unique per shop)")
    listing = command(order, "list", cmd_order_list, "a shop's orders")
    listing.add_argument("--shop", required=True)
    listing.add_argument("--status", choices=[s.value for s in OrderStatus])
    show = command(order, "show", cmd_order_show, "one order")
    show.add_argument("order_id")
    show.add_argument("--shop", required=True)
    receipts_command = command(
        order, "receipts", cmd_order_receipts, "a shop's receipts and their verdicts"
    )
    receipts_command.add_argument("--shop", required=True)
    receipts_command.add_argument(
        "--flagged", action="store_true", help="only receipts the checks flagged"
    )
    status = command(
        order, "set-status", cmd_order_set_status, "move an order along (e.g. shipped)"
    )
    status.add_argument("order_id")
    status.add_argument("--shop", required=True)
    status.add_argument("--status", required=True, choices=[s.value for s in OrderStatus])
    status.add_argument("--reason", help="why, when cancelling (the buyer is told)")
