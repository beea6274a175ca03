"""What every command group shares: the one-line error, the parser, finding a shop, printing."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from bot.platform.models import Order, Receipt, Shop
from bot.shop import shops
from bot.shop.money import format_naira
from bot.shop.order_ids import normalize_order_id
from bot.shop.receipts import verdict_of

Handler = Callable[[argparse.Namespace], None]


class CliError(Exception):
    """Shown to the user as one line, with exit status 1."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def subgroup(groups: Any, name: str, help_text: str) -> Any:
    """A command group (``shop``, ``order``...) whose commands are added with ``command``."""
    return groups.add_parser(name, help=help_text).add_subparsers(
        dest="command", required=True, parser_class=Parser
    )


def command(group: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    sub = group.add_parser(name, help=help_text)
    sub.set_defaults(handler=handler)
    return sub


def require_shop(session: Session, shop_id: str) -> Shop:
    shop = shops.get_shop(session, shop_id)
    if shop is None:
        raise CliError(f"no shop {shop_id!r} (see `python -m bot shop list`)")
    return shop


def order_id(typed: str) -> str:
    normalized = normalize_order_id(typed)
    if normalized is None:
        raise CliError(f"{typed!r} is not an order id like ORD-7F3K9Q")
    return normalized


def print_shop(shop: Shop) -> None:
    accounts = ", ".join(f"{a.channel}:{a.account_id}" for a in shop.accounts) or "none"
    print(f"{shop.id}\t{shop.name}\taccounts: {accounts}")


def print_order(order: Order) -> None:
    print(
        f"{order.id}\t{order.status}\t{format_naira(order.amount_kobo)}\t{order.description}"
        f"\tupdated {order.updated_at:%Y-%m-%d %H:%M} UTC"
        + (f"\treason: {order.cancel_reason}" if order.cancel_reason else "")
    )


def print_receipt(receipt: Receipt) -> None:
    """One receipt and its verdict (``FLAGGED: ...`` when the owner should look)."""
    verdict = verdict_of(receipt)
    when = receipt.attached_at or receipt.created_at
    print(
        f"{receipt.order_id}\treceipt {receipt.id}\t{when:%Y-%m-%d %H:%M} UTC\t"
        f"{'upload page' if receipt.source == 'link' else 'chat'}\t{receipt.content_type}\t"
        + (verdict.describe() if verdict else "not checked")
    )
