"""Which media URLs may be fetched: https on Meta's media hosts, and the origin of a Graph API
that is not Meta's own; nothing else, however it is spelled."""

from __future__ import annotations

import pytest
from yarl import URL

from bot.meta.media_hosts import MediaHosts
from bot.platform.settings import META_MEDIA_HOSTS, Settings

HOSTS = MediaHosts.of(META_MEDIA_HOSTS, ["http://127.0.0.1:8900"])


@pytest.mark.parametrize(
    "url",
    [
        "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1&ext=2&hash=ATu%2Fx",
        "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17869495296426197&signature=Ab",
        "https://LOOKASIDE.FBSBX.COM/ig_messaging_cdn/?asset_id=1",
        "https://lookaside.fbsbx.com:443/x",
        "https://lookaside.instagram.com/seo/google_widget/crawler/?media_id=1",
        "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg?oh=1",
        "https://scontent-lhr8-1.cdninstagram.com/v/t51.2885-15/photo.jpg",
        "http://127.0.0.1:8900/__files/cdn-1",
    ],
)
def test_metas_media_hosts_and_the_doubles_origin_are_allowed(url: str) -> None:
    assert HOSTS.allows(URL(url, encoded=True))


@pytest.mark.parametrize(
    "url",
    [
        "http://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
        "https://lookaside.fbsbx.com:8443/x",
        "https://user:secret@lookaside.fbsbx.com/x",
        "https://fbcdn.net/x",
        "https://evilfbcdn.net/x",
        "https://scontent.fbcdn.net.evil.example/x",
        "https://lookaside.fbsbx.com.evil.example/x",
        "https://lookaside.fbsbx.com./x",
        "https://lookaside%2efbsbx.com/x",
        "https://graph.facebook.com/v21.0/me",
        "https://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8901/__files/cdn-1",
        "https://127.0.0.1:8900/__files/cdn-1",
        "http://localhost:8900/__files/cdn-1",
        "file:///etc/passwd",
        "/__files/cdn-1",
        "lookaside.fbsbx.com/x",
    ],
)
def test_anything_else_is_refused(url: str) -> None:
    assert not HOSTS.allows(URL(url, encoded=True))


def test_metas_own_graph_api_adds_no_origin() -> None:
    settings = Settings.from_env({"OTP_SECRET": "o" * 32})
    hosts = MediaHosts.from_settings(settings)
    assert hosts.hosts == META_MEDIA_HOSTS and hosts.origins == frozenset()
    assert not hosts.allows(URL("https://graph.facebook.com/v21.0/123"))


def test_a_graph_api_elsewhere_plays_the_media_hosts_too() -> None:
    settings = Settings.from_env({"OTP_SECRET": "o" * 32, "GRAPH_API_URL": "http://127.0.0.1:9/"})
    hosts = MediaHosts.from_settings(settings)
    assert hosts.allows(URL("http://127.0.0.1:9/__media/1"))
    assert hosts.allows(URL("https://lookaside.fbsbx.com/x"))
