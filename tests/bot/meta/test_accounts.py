"""Which token answers a shop's buyers: the shop's own from the secrets layer, else the
environment's."""

from __future__ import annotations

import time

from bot.meta.accounts import AccountDirectory
from bot.platform import secrets as secret_store

IN_A_MONTH = int(time.time()) + 30 * 24 * 3600


def test_the_channels_take_each_shops_token_from_the_store(monkeypatch) -> None:
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "env-instagram-token")
    secret_store.store_shop_token("mama-put", "instagram", "ig-own", "178414000", IN_A_MONTH)
    accounts = AccountDirectory("instagram")
    assert accounts.token_of("mama-put") == "ig-own"
    assert accounts.token_of("iya-basket") == "env-instagram-token"
