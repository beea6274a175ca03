"""Which URLs media may be downloaded from.

A media URL comes from Meta (WhatsApp's media lookup, Instagram's webhook payload), yet it is
fetched by our server, the shop's token attached for WhatsApp: were any URL accepted, a payload
naming an internal address would make the server fetch it. So only https URLs on Meta's media
hosts (``META_MEDIA_HOSTS``) are fetched, and, in development, the origin of a Graph API that is
not Meta's own (the local double), which plays Meta's media hosts too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from yarl import URL

from bot.platform.settings import Settings


@dataclass(frozen=True)
class MediaHosts:
    """Host names (exact, or ``*.domain`` for its subdomains) and extra origins allowed."""

    hosts: tuple[str, ...]
    origins: frozenset[URL] = frozenset()

    @classmethod
    def of(cls, hosts: Iterable[str], origins: Iterable[str] = ()) -> MediaHosts:
        return cls(tuple(hosts), frozenset(URL(origin).origin() for origin in origins))

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaHosts:
        return cls.of(settings.meta_media_hosts, settings.media_origins)

    def allows(self, url: URL) -> bool:
        """Whether ``url`` may be fetched: https, no credentials, the default port, an allowed
        host; or exactly one of the allowed origins."""
        if not url.is_absolute() or url.user is not None or url.password is not None:
            return False
        if url.origin() in self.origins:
            return True
        if url.scheme != "https" or url.explicit_port not in (None, 443):
            return False
        host = (url.host or "").lower()
        return any(_matches(host, allowed) for allowed in self.hosts)


def _matches(host: str, allowed: str) -> bool:
    if allowed.startswith("*."):
        return host.endswith(allowed[1:])
    return host == allowed
