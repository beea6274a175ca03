"""Configuration from the environment, read once per process."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'trustguard.db'}"
META_GRAPH_API_URL = "https://graph.facebook.com"
INSTAGRAM_API_URL = "https://api.instagram.com"
INSTAGRAM_GRAPH_API_URL = "https://graph.instagram.com"
# Meta's current Graph API version (v26.0, July 2026; v21.0 stops working on Jan 21, 2027).
DEFAULT_GRAPH_API_VERSION = "v26.0"
# A one-time code lives at most 10 minutes (OWASP ASVS 6.5.5: out-of-band codes).
MAX_OTP_TTL_SECONDS = 600
# Where Meta serves the media buyers send: WhatsApp's media URLs and Instagram's attachment URLs
# (lookaside.fbsbx.com), and the CDNs behind them. A host, or "*." and a domain for its subdomains.
META_MEDIA_HOSTS = (
    "lookaside.fbsbx.com",
    "lookaside.instagram.com",
    "*.fbcdn.net",
    "*.cdninstagram.com",
)
_MEDIA_HOST = re.compile(r"(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)+")
# Meta redelivers a webhook for up to 7 days: a finished inbox row (and its dedupe key) is kept
# longer than that, so a late redelivery is still dropped.
MIN_INBOX_RETENTION_DAYS = 8
DEFAULT_RECEIPTS_DIR = PROJECT_ROOT / "var" / "receipts"
DEFAULT_RASA_PORT = "5005"
# What a Rasa server process does with Meta's webhooks: acknowledge them (store, 200), run the
# turns of the inbox, or both (one process: make run).
ROLES = ("all", "ingest", "turns")
# A claimed inbox message is held this long unless its turn renews the claim: a server that dies
# mid-turn has its messages taken over by another after at most this.
MIN_INBOX_LEASE_SECONDS = 5


class ConfigurationError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    otp_secret: str
    otp_ttl_seconds: int
    jwt_ttl_seconds: int
    default_shop: str | None
    buyer_portal_url: str | None
    # Receipts go to this S3 bucket when it is set, else to files under ``receipts_dir``.
    receipts_bucket: str | None = None
    receipts_dir: Path = DEFAULT_RECEIPTS_DIR
    # Where buyers reach the Rasa server (upload links are made from it).
    public_base_url: str = f"http://127.0.0.1:{DEFAULT_RASA_PORT}"
    meta_app_secret: str = ""
    meta_verify_token: str = ""
    graph_api_url: str = META_GRAPH_API_URL
    graph_api_version: str = DEFAULT_GRAPH_API_VERSION
    instagram_api_url: str = INSTAGRAM_API_URL
    instagram_graph_api_url: str = INSTAGRAM_GRAPH_API_URL
    whatsapp_access_token: str | None = None
    instagram_access_token: str | None = None
    inbox_stale_after_seconds: int = 3600
    meta_media_hosts: tuple[str, ...] = META_MEDIA_HOSTS
    inbox_retention_days: int = 30
    api_port: int = 5080
    api_rate_limit: int = 120
    outbox_poll_seconds: float = 1.0
    outbox_retry_base_seconds: float = 30.0
    role: str = "all"
    inbox_lease_seconds: int = 30
    jwt_issuer: str = "trustguard"
    jwt_audience: str = "trustguard-buyer-portal"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """The settings; a malformed one raises ConfigurationError, saying what to fix. (The JWT
        key is the secrets layer's: servers check it at start, ``secrets.check_jwt_key``.)"""
        graph_api_url = (env.get("GRAPH_API_URL") or META_GRAPH_API_URL).rstrip("/")
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            otp_secret=_required_secret(env, "OTP_SECRET"),
            otp_ttl_seconds=_positive_int(env, "OTP_TTL_SECONDS", 300, maximum=MAX_OTP_TTL_SECONDS),
            jwt_ttl_seconds=_positive_int(env, "JWT_TTL_SECONDS", 3600),
            receipts_bucket=env.get("RECEIPTS_BUCKET") or None,
            receipts_dir=Path(env.get("RECEIPTS_DIR") or DEFAULT_RECEIPTS_DIR),
            public_base_url=_public_base_url(env),
            default_shop=env.get("DEFAULT_SHOP") or None,
            buyer_portal_url=(env.get("BUYER_PORTAL_URL") or "").rstrip("/") or None,
            meta_app_secret=env.get("META_APP_SECRET", ""),
            meta_verify_token=env.get("META_VERIFY_TOKEN", ""),
            graph_api_url=graph_api_url,
            graph_api_version=env.get("GRAPH_API_VERSION") or DEFAULT_GRAPH_API_VERSION,
            instagram_api_url=_instagram_url(
                env, "INSTAGRAM_API_URL", INSTAGRAM_API_URL, graph_api_url
            ),
            instagram_graph_api_url=_instagram_url(
                env, "INSTAGRAM_GRAPH_API_URL", INSTAGRAM_GRAPH_API_URL, graph_api_url
            ),
            whatsapp_access_token=env.get("WHATSAPP_ACCESS_TOKEN") or None,
            instagram_access_token=env.get("INSTAGRAM_ACCESS_TOKEN") or None,
            inbox_stale_after_seconds=_positive_int(env, "INBOX_STALE_AFTER_SECONDS", 3600),
            meta_media_hosts=_media_hosts(env),
            inbox_retention_days=_positive_int(
                env,
                "INBOX_RETENTION_DAYS",
                30,
                minimum=MIN_INBOX_RETENTION_DAYS,
                unit="days",
                why="Meta redelivers webhooks for 7 days",
            ),
            api_port=_positive_int(env, "API_PORT", 5080, maximum=65535),
            api_rate_limit=_positive_int(env, "API_RATE_LIMIT", 120),
            outbox_poll_seconds=_positive_seconds(env, "OUTBOX_POLL_SECONDS", 1.0),
            outbox_retry_base_seconds=_positive_seconds(env, "OUTBOX_RETRY_BASE_SECONDS", 30.0),
            role=_role(env),
            inbox_lease_seconds=_positive_int(
                env,
                "INBOX_LEASE_SECONDS",
                30,
                minimum=MIN_INBOX_LEASE_SECONDS,
                why="a lease is renewed every third of it while a turn runs",
            ),
        )

    @property
    def media_origins(self) -> tuple[str, ...]:
        """Where media may come from besides Meta's media hosts: the Graph API hosts that are not
        Meta's own (the local double, a proxy), which then play Meta's media hosts too."""
        metas = (META_GRAPH_API_URL, INSTAGRAM_GRAPH_API_URL)
        urls = dict.fromkeys((self.graph_api_url, self.instagram_graph_api_url))
        return tuple(url for url in urls if url not in metas)


def _role(env: Mapping[str, str]) -> str:
    role = env.get("TRUSTGUARD_ROLE") or "all"
    if role not in ROLES:
        raise ConfigurationError(
            f"TRUSTGUARD_ROLE must be one of {', '.join(ROLES)} (ingest: acknowledge webhooks only;"
            f" turns: answer the inbox only; all: both), not {role!r}."
        )
    return role


def _instagram_url(env: Mapping[str, str], name: str, default: str, graph_api_url: str) -> str:
    """Instagram Login's host: as set, else Meta's own host, unless GRAPH_API_URL points
    elsewhere (a local double or a proxy), which then plays Instagram's hosts too, so a
    development or test setup never reaches Instagram by default."""
    fallback = default if graph_api_url == META_GRAPH_API_URL else graph_api_url
    return (env.get(name) or fallback).rstrip("/")


def _media_hosts(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("META_MEDIA_HOSTS")
    if raw in (None, ""):
        return META_MEDIA_HOSTS
    hosts = tuple(host.strip().lower() for host in raw.split(","))
    malformed = [host for host in hosts if not _MEDIA_HOST.fullmatch(host)]
    if malformed:
        raise ConfigurationError(
            "META_MEDIA_HOSTS must be host names separated by commas, each exact "
            f"(lookaside.fbsbx.com) or a domain's subdomains (*.fbcdn.net), not {malformed[0]!r}."
        )
    return hosts


def _public_base_url(env: Mapping[str, str]) -> str:
    """``PUBLIC_BASE_URL`` without a trailing slash; unset, the Rasa server on loopback."""
    raw = env.get("PUBLIC_BASE_URL") or ""
    if not raw:
        return f"http://127.0.0.1:{env.get('RASA_PORT') or DEFAULT_RASA_PORT}"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"PUBLIC_BASE_URL must be the address buyers reach the assistant at, such as "
            f"https://bot.example.com, not {raw!r}."
        )
    return raw.rstrip("/")


def _required_secret(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if len(value) < 32:
        raise ConfigurationError(
            f"{name} must be set to a random string of at least 32 characters "
            "(`make run` writes one into .env)."
        )
    return value


def _positive_int(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    unit: str = "seconds",
    why: str = "",
) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number of {unit}, not {raw!r}.") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, not {value}.")
    if value < minimum:
        because = f" ({why})" if why else ""
        raise ConfigurationError(f"{name} must be at least {minimum}{because}, not {value}.")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{name} may be at most {maximum}, not {value}.")
    return value


def _positive_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {raw!r}.") from None
    if not 0 < value < 86400:
        raise ConfigurationError(f"{name} must be more than 0 and less than a day, not {raw}.")
    return value


def load_dotenv(path: Path = PROJECT_ROOT / ".env") -> None:
    """Fill the environment from ``.env`` without overriding what is already set."""
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env(os.environ)
