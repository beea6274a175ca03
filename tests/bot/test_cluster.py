"""What ``make cluster`` checks and hands its servers before starting any."""

from __future__ import annotations

import pytest

from bot.cluster import Unreachable, check_services, cluster_environment, turn_server_ports
from bot.platform.settings import ConfigurationError


def test_postgresql_and_redis_on_their_standard_local_ports_by_default() -> None:
    env = cluster_environment({})
    assert env["DATABASE_URL"] == "postgresql://postgres@127.0.0.1:5432/trustguard"
    assert env["TRACKER_STORE_URL"] == env["DATABASE_URL"]
    assert (env["REDIS_HOST"], env["REDIS_PORT"], env["REDIS_DB"], env["REDIS_PASSWORD"]) == (
        "127.0.0.1",
        "6379",
        "0",
        "",
    )
    assert turn_server_ports(env, 2) == [5006, 5007]


def test_redis_url_is_split_for_rasas_lock_store() -> None:
    env = cluster_environment({"REDIS_URL": "redis://:s3cret@cache.internal:6380/4"})
    assert (env["REDIS_HOST"], env["REDIS_PORT"], env["REDIS_DB"], env["REDIS_PASSWORD"]) == (
        "cache.internal",
        "6380",
        "4",
        "s3cret",
    )


@pytest.mark.parametrize("name", ["DATABASE_URL", "TRACKER_STORE_URL"])
def test_sqlite_is_refused_naming_the_setting(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} must be a PostgreSQL URL"):
        cluster_environment({name: "sqlite:///var/trustguard.db"})


def test_an_unreachable_postgresql_is_named_with_how_to_start_it() -> None:
    env = cluster_environment({"DATABASE_URL": "postgresql://postgres:pw@127.0.0.1:1/shop"})
    with pytest.raises(Unreachable) as refused:
        check_services(env, create=False)
    assert "PostgreSQL does not answer at 127.0.0.1:1/shop" in str(refused.value)
    assert "pg_ctlcluster" in str(refused.value) and "pw" not in str(refused.value)


def test_an_unreachable_redis_is_named_with_how_to_start_it(postgres_url: str) -> None:
    env = cluster_environment({"DATABASE_URL": postgres_url, "REDIS_URL": "redis://127.0.0.1:1/0"})
    with pytest.raises(Unreachable, match=r"Redis does not answer at REDIS_URL \(127.0.0.1:1\)"):
        check_services(env, create=False)


def test_rasas_conversation_locks_last_as_long_as_an_inbox_lease() -> None:
    assert cluster_environment({})["TICKET_LOCK_LIFETIME"] == "30"
    assert cluster_environment({"INBOX_LEASE_SECONDS": "8"})["TICKET_LOCK_LIFETIME"] == "8"
