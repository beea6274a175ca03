"""Where receipts are kept: an S3 bucket when ``RECEIPTS_BUCKET`` is set, else a local directory
(``RECEIPTS_DIR``, by default ``var/receipts``). One interface (``base.FileStore``), two
backends (``local``, ``s3``), the same keys in both."""

from __future__ import annotations

import functools
from pathlib import Path

from bot.platform.settings import get_settings
from bot.platform.storage.base import (
    DirectUpload,
    FileMissing,
    FileStore,
    FileTooLarge,
    StorageUnavailable,
    check_key,
)
from bot.platform.storage.local import LocalFileStore
from bot.platform.storage.s3 import S3FileStore

__all__ = [
    "DirectUpload",
    "FileMissing",
    "FileStore",
    "FileTooLarge",
    "StorageUnavailable",
    "check_key",
    "receipt_store",
    "reset_cache",
]


def receipt_store() -> FileStore:
    settings = get_settings()
    return _store(settings.receipts_bucket, settings.receipts_dir)


@functools.lru_cache(maxsize=4)
def _store(bucket: str | None, directory: Path) -> FileStore:
    return S3FileStore(bucket) if bucket else LocalFileStore(directory)


def reset_cache() -> None:
    """Forget the stores made so far (tests that switch AWS on and off)."""
    _store.cache_clear()
