"""Files in a local directory (development and small installations): nothing to set up.

Directories are made 0700 and files 0600, whatever the process's umask; a file is written to a
temporary name and renamed, so a reader never sees half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bot.platform.storage.base import (
    FileMissing,
    FileStore,
    FileTooLarge,
    StorageUnavailable,
    check_key,
)

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


class LocalFileStore(FileStore):
    def __init__(self, root: Path) -> None:
        self._root = root

    def put(self, key: str, content: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            self._make_directories(path.parent)
            descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                os.fchmod(descriptor, FILE_MODE)
                with os.fdopen(descriptor, "wb") as file:
                    file.write(content)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise StorageUnavailable(type(error).__name__) from error

    def get(self, key: str, max_bytes: int) -> bytes:
        path = self._path(key)
        try:
            with path.open("rb") as file:
                content = file.read(max_bytes + 1)
        except FileNotFoundError:
            raise FileMissing(key) from None
        except OSError as error:
            raise StorageUnavailable(type(error).__name__) from error
        if len(content) > max_bytes:
            raise FileTooLarge(key)
        return content

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*check_key(key).split("/"))

    def _make_directories(self, directory: Path) -> None:
        """The root and every directory below it down to ``directory``, each 0700 (``mkdir``'s
        mode is cut by the umask)."""
        current = self._root
        for part in ("", *directory.relative_to(self._root).parts):
            current = current / part
            if not current.is_dir():
                current.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
                current.chmod(DIRECTORY_MODE)
