"""``audit tail``: what happened in a shop, newest last."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import command, require_shop, subgroup
from bot.platform import db
from bot.shop import audit


def cmd_audit_tail(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        require_shop(session, args.shop)
        for event in audit.tail(session, args.shop, args.limit):
            detail = " ".join(f"{k}={v}" for k, v in sorted(event.detail.items()))
            when = f"{event.created_at:%Y-%m-%d %H:%M:%S}"
            print(f"{when}\t{event.action}\t{event.buyer or '-'}\t{detail}")


def register(groups: Any) -> None:
    audit_group = subgroup(groups, "audit", "the audit trail")
    tail = command(audit_group, "tail", cmd_audit_tail, "a shop's latest audit events")
    tail.add_argument("--shop", required=True)
    tail.add_argument("--limit", type=int, default=20)
