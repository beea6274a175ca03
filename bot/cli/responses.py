"""``responses ...``: a shop's own wording of the assistant's responses, as a file to edit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.cli.common import CliError, command, require_shop, subgroup
from bot.platform import db
from bot.shop import profile as shop_profile


def cmd_responses_export(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        shop = require_shop(session, args.shop)
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
        raise CliError(f"cannot read {args.file}: {error.strerror}") from error
    with db.session_scope() as session:
        shop = require_shop(session, args.shop)
        try:
            own = shop_profile.import_responses(session, shop, text)
        except shop_profile.ProfileError as error:
            raise CliError(f"{args.file} was not imported, nothing changed:\n{error}") from error
    print(f"{args.shop} now has {len(own)} own response(s): {', '.join(own) or 'none'}")


def cmd_responses_diff(args: argparse.Namespace) -> None:
    with db.session_scope() as session:
        shop = require_shop(session, args.shop)
        print(shop_profile.diff_responses(shop_profile.load_profile(session, shop)), end="")


def register(groups: Any) -> None:
    responses = subgroup(groups, "responses", "a shop's own wording of the assistant's responses")
    export = command(responses, "export", cmd_responses_export, "every response as buyers get it")
    export.add_argument("--shop", required=True)
    export.add_argument("--out", help="write to this file instead of the terminal")
    imported = command(responses, "import", cmd_responses_import, "make a file the shop's wording")
    imported.add_argument("--shop", required=True)
    imported.add_argument("file")
    diff = command(responses, "diff", cmd_responses_diff, "the shop's wording against the default")
    diff.add_argument("--shop", required=True)
