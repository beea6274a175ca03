"""Settings read from the environment."""

from __future__ import annotations

import re

import pytest

from bot.platform.settings import META_MEDIA_HOSTS, ConfigurationError, Settings


@pytest.mark.parametrize(
    "env, api, graph_host",
    [
        ({}, "https://api.instagram.com", "https://graph.instagram.com"),
        (
            {"GRAPH_API_URL": "https://graph.facebook.com/"},
            "https://api.instagram.com",
            "https://graph.instagram.com",
        ),
        (
            {"GRAPH_API_URL": "http://127.0.0.1:8900"},
            "http://127.0.0.1:8900",
            "http://127.0.0.1:8900",
        ),
        (
            {
                "GRAPH_API_URL": "http://127.0.0.1:8900",
                "INSTAGRAM_API_URL": "http://127.0.0.1:1/",
                "INSTAGRAM_GRAPH_API_URL": "http://127.0.0.1:2",
            },
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
        ),
    ],
    ids=["meta", "meta-named", "double", "each-set"],
)
def test_instagrams_hosts_follow_a_graph_api_url_that_is_not_metas(
    env: dict[str, str], api: str, graph_host: str
) -> None:
    settings = Settings.from_env({**env, "JWT_SECRET": "k" * 32, "OTP_SECRET": "o" * 32})
    assert (settings.instagram_api_url, settings.instagram_graph_api_url) == (api, graph_host)


SECRETS = {"OTP_SECRET": "o" * 32}


@pytest.mark.parametrize("ttl", ["601", "86400", "0", "-5", "ten"])
def test_a_code_lifetime_outside_ten_minutes_is_refused(ttl: str) -> None:
    with pytest.raises(ConfigurationError, match="OTP_TTL_SECONDS"):
        Settings.from_env({**SECRETS, "OTP_TTL_SECONDS": ttl})


@pytest.mark.parametrize("ttl, seconds", [("", 300), ("60", 60), ("600", 600)])
def test_a_code_lifetime_within_ten_minutes_is_kept(ttl: str, seconds: int) -> None:
    assert Settings.from_env({**SECRETS, "OTP_TTL_SECONDS": ttl}).otp_ttl_seconds == seconds


def test_the_graph_api_version_is_one_meta_still_serves_and_can_be_set():
    """v21.0 stops working on Jan 21, 2027; v25.0 lives until Jul 29, 2028."""
    default = Settings.from_env(SECRETS).graph_api_version
    assert int(default.removeprefix("v").split(".")[0]) >= 25
    assert Settings.from_env({**SECRETS, "GRAPH_API_VERSION": "v25.0"}).graph_api_version == "v25.0"


def test_metas_media_hosts_are_the_default() -> None:
    assert (
        Settings.from_env(SECRETS).meta_media_hosts
        == META_MEDIA_HOSTS
        == (
            "lookaside.fbsbx.com",
            "lookaside.instagram.com",
            "*.fbcdn.net",
            "*.cdninstagram.com",
        )
    )


def test_media_hosts_can_be_set() -> None:
    env = {**SECRETS, "META_MEDIA_HOSTS": " Lookaside.fbsbx.com, *.fbcdn.net ,media.example.com"}
    assert Settings.from_env(env).meta_media_hosts == (
        "lookaside.fbsbx.com",
        "*.fbcdn.net",
        "media.example.com",
    )


@pytest.mark.parametrize(
    "hosts",
    [
        "*",
        "*.com",
        "https://lookaside.fbsbx.com",
        "lookaside.fbsbx.com:443",
        "a.b/c",
        "x,,y",
        "*x.y",
    ],
)
def test_a_malformed_media_host_is_refused(hosts: str) -> None:
    with pytest.raises(ConfigurationError, match="META_MEDIA_HOSTS"):
        Settings.from_env({**SECRETS, "META_MEDIA_HOSTS": hosts})


@pytest.mark.parametrize(
    "env, origins",
    [
        ({}, ()),
        ({"GRAPH_API_URL": "http://127.0.0.1:8900/"}, ("http://127.0.0.1:8900",)),
        (
            {"GRAPH_API_URL": "http://127.0.0.1:8900", "INSTAGRAM_GRAPH_API_URL": "http://[::1]:2"},
            ("http://127.0.0.1:8900", "http://[::1]:2"),
        ),
        ({"INSTAGRAM_GRAPH_API_URL": "https://ig-proxy.example"}, ("https://ig-proxy.example",)),
    ],
    ids=["meta", "double", "both", "instagram-proxy"],
)
def test_graph_api_hosts_that_are_not_metas_are_media_origins(
    env: dict[str, str], origins: tuple[str, ...]
) -> None:
    assert Settings.from_env({**SECRETS, **env}).media_origins == origins


@pytest.mark.parametrize(
    "days, problem",
    [
        ("7", "at least 8 (Meta redelivers webhooks for 7 days), not 7"),
        ("0", "positive, not 0"),
        ("thirty", "a whole number of days, not 'thirty'"),
    ],
)
def test_an_inbox_retention_within_metas_redeliveries_is_refused(days: str, problem: str) -> None:
    with pytest.raises(
        ConfigurationError, match=re.escape(f"INBOX_RETENTION_DAYS must be {problem}")
    ):
        Settings.from_env({**SECRETS, "INBOX_RETENTION_DAYS": days})


@pytest.mark.parametrize("days, kept", [("", 30), ("8", 8), ("365", 365)])
def test_an_inbox_retention_of_eight_days_or_more_is_kept(days: str, kept: int) -> None:
    assert Settings.from_env({**SECRETS, "INBOX_RETENTION_DAYS": days}).inbox_retention_days == kept


def test_the_shops_api_and_its_outbox_have_defaults_and_take_their_settings() -> None:
    default = Settings.from_env(SECRETS)
    assert (default.api_port, default.api_rate_limit) == (5080, 120)
    assert (default.outbox_poll_seconds, default.outbox_retry_base_seconds) == (1.0, 30.0)
    env = {
        "API_PORT": "6080",
        "API_RATE_LIMIT": "10",
        "OUTBOX_POLL_SECONDS": "0.25",
        "OUTBOX_RETRY_BASE_SECONDS": "2",
    }
    settings = Settings.from_env({**SECRETS, **env})
    assert (settings.api_port, settings.api_rate_limit) == (6080, 10)
    assert (settings.outbox_poll_seconds, settings.outbox_retry_base_seconds) == (0.25, 2.0)


@pytest.mark.parametrize(
    "name, value",
    [
        ("API_PORT", "70000"),
        ("API_PORT", "http"),
        ("API_RATE_LIMIT", "0"),
        ("OUTBOX_POLL_SECONDS", "0"),
        ("OUTBOX_POLL_SECONDS", "soon"),
        ("OUTBOX_RETRY_BASE_SECONDS", "86400"),
        ("OUTBOX_RETRY_BASE_SECONDS", "nan"),
    ],
)
def test_a_malformed_api_or_outbox_setting_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({**SECRETS, name: value})


BASE = {"JWT_SECRET": "k" * 32, "OTP_SECRET": "o" * 32}


def test_receipts_stay_on_this_machine_unless_a_bucket_is_set(tmp_path) -> None:
    settings = Settings.from_env(BASE)
    assert settings.receipts_bucket is None
    assert str(settings.receipts_dir).endswith("var/receipts")
    assert settings.public_base_url == "http://127.0.0.1:5005"
    settings = Settings.from_env(
        {**BASE, "RECEIPTS_BUCKET": "shop-receipts", "RECEIPTS_DIR": str(tmp_path),
         "RASA_PORT": "6006"}
    )  # fmt: skip
    assert (settings.receipts_bucket, settings.receipts_dir) == ("shop-receipts", tmp_path)
    assert settings.public_base_url == "http://127.0.0.1:6006"


@pytest.mark.parametrize("url", ["bot.example.com", "ftp://bot.example.com", "https://x/?a=1"])
def test_a_public_base_url_that_is_not_one_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
        Settings.from_env({**BASE, "PUBLIC_BASE_URL": url})
    ok = Settings.from_env({**BASE, "PUBLIC_BASE_URL": "https://bot.example.com/"})
    assert ok.public_base_url == "https://bot.example.com"


@pytest.mark.parametrize("role, kept", [("", "all"), ("ingest", "ingest"), ("turns", "turns")])
def test_a_server_acknowledges_and_answers_unless_given_one_role(role: str, kept: str) -> None:
    assert Settings.from_env({**SECRETS, "TRUSTGUARD_ROLE": role}).role == kept


def test_an_unknown_role_is_refused_naming_the_roles() -> None:
    with pytest.raises(
        ConfigurationError, match="TRUSTGUARD_ROLE must be one of all, ingest, turns"
    ):
        Settings.from_env({**SECRETS, "TRUSTGUARD_ROLE": "worker"})


@pytest.mark.parametrize("seconds, kept", [("", 30), ("5", 5), ("120", 120)])
def test_the_inbox_lease_is_kept_from_five_seconds(seconds: str, kept: int) -> None:
    assert (
        Settings.from_env({**SECRETS, "INBOX_LEASE_SECONDS": seconds}).inbox_lease_seconds == kept
    )


def test_a_lease_too_short_to_renew_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"INBOX_LEASE_SECONDS must be at least 5"):
        Settings.from_env({**SECRETS, "INBOX_LEASE_SECONDS": "2"})
