"""``python -m bot``: the admin command line for shop owners and operators, one module per
command group (``env``/``db``, ``shop``, ``order``, ``responses``, ``audit``, ``apikey``,
``nlu``)."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

from bot.cli import apikey, audit, env, nlu, order, responses, shop
from bot.cli.common import CliError, Parser
from bot.platform.files import keep_new_files_private
from bot.platform.logs import install_redaction
from bot.platform.settings import ConfigurationError, load_dotenv

GROUPS = (env, shop, order, responses, audit, apikey, nlu)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m bot", description="TrustGuard admin for owners and operators")
    groups = parser.add_subparsers(dest="group", required=True, parser_class=Parser)
    for group in GROUPS:
        group.register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    keep_new_files_private()
    install_redaction()
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
