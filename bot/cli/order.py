"""``order ...``: creating orders for buyers, listing them and moving them along."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy.orm import Session

from bot.cli.common import CliError, command, order_id, print_order, require_shop, subgroup
from bot.platform import db
from bot.platform.models import Channel, Order, OrderStatus
from bot.shop import audit, buyers, orders
from bot.shop.audit import AuditAction
from bot.shop.money import parse_naira


def cmd_order_create(args: argparse.Namespace) -> None:
    try:
        amount = parse_naira(args.amount)
    except ValueError as error:
        raise CliError(str(error)) from error
    with db.session_scope() as session:
        shop = require_shop(session, args.shop)
        buyer, _ = buyers.get_or_create_buyer(session, shop.id, args.channel, args.buyer)
        try:
            order = orders.create_order(session, buyer, amount, args.description)
        except orders.OrderError as error:
            raise CliError(str(error)) from error
        audit.record(session, shop.id, AuditAction.ORDER_CREATED, buyer, order_id=order.id)
        print_order(order)
        print(order.id)


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
    with db.session_scope() as session:
        print_order(_shop_order(session, args))


def cmd_order_set_status(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        order = _shop_order(session, args)
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
        print_order(order)


def register(groups: Any) -> None:
    order = subgroup(groups, "order", "orders")
    create = command(order, "create", cmd_order_create, "create a pending order for a buyer")
    create.add_argument("--shop", required=True)
    create.add_argument("--channel", required=True, choices=[c.value for c in Channel])
    create.add_argument("--buyer", required=True, help="the buyer's id on that channel")
    create.add_argument("--amount", required=True, help="in Naira, e.g. 25000 or 25,000.50")
    create.add_argument("--description", required=True)
    listing = command(order, "list", cmd_order_list, "a shop's orders")
    listing.add_argument("--shop", required=True)
    listing.add_argument("--status", choices=[s.value for s in OrderStatus])
    show = command(order, "show", cmd_order_show, "one order")
    show.add_argument("order_id")
    show.add_argument("--shop", required=True)
    status = command(
        order, "set-status", cmd_order_set_status, "move an order along (e.g. shipped)"
    )
    status.add_argument("order_id")
    status.add_argument("--shop", required=True)
    status.add_argument("--status", required=True, choices=[s.value for s in OrderStatus])
