"""``apikey ...``: keys a shop's own systems call the API with (``python -m bot.api``)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import CliError, command, require_shop, subgroup
from bot.platform import db
from bot.shop import api_keys
from bot.shop.documents import timestamp


def cmd_apikey_create(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        require_shop(session, args.shop)
        try:
            row, key = api_keys.create_key(session, args.shop, args.name)
        except api_keys.ApiKeyError as error:
            raise CliError(str(error)) from error
        print(f"key {row.id} ({row.name}) for shop {args.shop}; it is shown only now, keep it:")
        print(key)


def cmd_apikey_list(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        require_shop(session, args.shop)
        for row in api_keys.list_keys(session, args.shop):
            state = f"revoked {timestamp(row.revoked_at)}" if row.revoked_at else "active"
            used = timestamp(row.last_used_at) or "never"
            print(f"{row.id}\t{row.prefix}…\t{row.name}\t{state}\tlast used {used}")


def cmd_apikey_revoke(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        require_shop(session, args.shop)
        try:
            row = api_keys.revoke_key(session, args.shop, args.key_id)
        except api_keys.ApiKeyError as error:
            raise CliError(str(error)) from error
        print(f"key {row.id} ({row.prefix}…) revoked: it is refused from now on")


def register(groups: Any) -> None:
    keys = subgroup(groups, "apikey", "API keys of a shop's own systems")
    create = command(keys, "create", cmd_apikey_create, "make a key (printed once, last)")
    create.add_argument("--shop", required=True)
    create.add_argument("--name", default="default", help="what the key is for, e.g. storefront")
    listing = command(keys, "list", cmd_apikey_list, "a shop's keys (never the keys themselves)")
    listing.add_argument("--shop", required=True)
    revoke = command(keys, "revoke", cmd_apikey_revoke, "refuse a key from now on")
    revoke.add_argument("key_id", type=int)
    revoke.add_argument("--shop", required=True)
