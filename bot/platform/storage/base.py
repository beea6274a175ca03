"""What a store of files (receipts) offers, whichever backend holds them."""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass

# Keys are made by the app (``shops/<shop>/...``); anything else is refused, never resolved.
_KEY_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")


class StorageUnavailable(RuntimeError):
    """The store cannot be reached or refused the call; the message names the cause's type."""


class FileMissing(KeyError):
    """No file under that key."""


class FileTooLarge(StorageUnavailable):
    """The file is larger than the caller would read."""


def check_key(key: str) -> str:
    """``key`` if it is a relative path of plain names (no ``..``, no leading ``/``)."""
    if not _KEY_RE.fullmatch(key) or ".." in key.split("/"):
        raise ValueError(f"not a storage key: {key!r}")
    return key


@dataclass(frozen=True)
class DirectUpload:
    """A form that a browser posts straight to the store: its ``url`` and hidden ``fields``
    (the file field comes last). The store redirects to the form's redirect URL afterwards."""

    url: str
    fields: dict[str, str]


class FileStore(abc.ABC):
    """Put, get and delete files by key. Calls may touch the disk or the network: call them off
    the event loop."""

    @abc.abstractmethod
    def put(self, key: str, content: bytes, content_type: str) -> None:
        """Store ``content`` under ``key``, replacing what was there."""

    @abc.abstractmethod
    def get(self, key: str, max_bytes: int) -> bytes:
        """The file's bytes; FileMissing when there is none, FileTooLarge past ``max_bytes``."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the file, if there is one."""

    def direct_upload(
        self, key: str, max_bytes: int, redirect_url: str, expires_in: int
    ) -> DirectUpload | None:
        """A signed form for a browser to post a file of 1 to ``max_bytes`` bytes under ``key``,
        after which the browser is sent to ``redirect_url``; None when the store has no such
        thing and the assistant receives the file itself."""
        return None

    def download_url(self, key: str, expires_in: int) -> str | None:
        """A link that downloads the file for ``expires_in`` seconds; None when the store has
        no such thing (the local directory)."""
        return None
