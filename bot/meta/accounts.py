"""Which Meta account and token speak for a shop on a channel."""

from __future__ import annotations

from bot.platform import secrets
from bot.platform.db import session_scope
from bot.shop.shops import account_of_shop


class AccountDirectory:
    """A channel's view of the shops' accounts (database) and tokens (secrets layer).

    Both may touch the disk or the network: call them off the event loop.
    """

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def account_of(self, shop_id: str) -> str | None:
        with session_scope() as session:
            return account_of_shop(session, shop_id, self.channel)

    def token_of(self, shop_id: str) -> str | None:
        """The shop's own token; in development the environment's token serves shops without one."""
        return secrets.shop_token(shop_id, self.channel)
