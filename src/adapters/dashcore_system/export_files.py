"""Export files in a directory of the local file system (``DASHCORE_EXPORTS_DIR``, by default
``<data dir>/exports``).

- A file is named by its key, which dashcore makes from the export's id and which is checked
  again here (letters, digits, ``_``, ``-`` and one extension): no path from outside ever
  reaches the file system.
- Writing goes to a hidden temporary file in the same directory, flushed to disk, then
  renamed over the key: readers see the whole new file or none; a failed write removes its
  temporary file, and one whose process was killed leaves it until the export is given up
  (:meth:`LocalExportFileStore.discard_partial`). Files are private to the server's user
  (0600, directory 0700): they hold people's financial history.
- Blocking file calls run in worker threads, a chunk at a time, so the event loop never waits
  on the disk and memory stays bounded by one chunk.
- Every process that serves downloads must see the directory the workers write to: one
  machine, or a shared volume.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from dashcore.domain.errors import DependencyUnavailable, NotFound
from dashcore.domain.exports import check_file_key
from dashcore.ports.exports import ExportFileStore

__all__ = ["LocalExportFileStore"]

READ_CHUNK = 64 * 1024


def _storage_failed(error: OSError) -> DependencyUnavailable:
    return DependencyUnavailable(
        f"The export files cannot be written or read ({type(error).__name__}).",
        dependency="export_files",
        retry_after=None,
    )


class LocalExportFileStore(ExportFileStore):
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _path(self, key: str) -> Path:
        return self._directory / check_file_key(key)

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        target = self._path(key)
        temporary = self._directory / f"{_partial_prefix(key)}{secrets.token_hex(8)}.part"
        try:
            handle = await asyncio.to_thread(_create_private, temporary)
        except OSError as error:
            raise _storage_failed(error) from error
        try:
            size = 0
            with handle:
                async for chunk in chunks:
                    await asyncio.to_thread(handle.write, chunk)
                    size += len(chunk)
                await asyncio.to_thread(_flush, handle)
            await asyncio.to_thread(os.replace, temporary, target)
        except OSError as error:
            await asyncio.to_thread(temporary.unlink, missing_ok=True)
            raise _storage_failed(error) from error
        except BaseException:
            await asyncio.to_thread(temporary.unlink, missing_ok=True)
            raise
        return size

    async def size(self, key: str) -> int | None:
        path = self._path(key)
        try:
            return (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _storage_failed(error) from error

    async def read(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise NotFound("No such export file.", code="export_file_missing") from None
        except OSError as error:
            raise _storage_failed(error) from error
        with handle:
            while True:
                try:
                    chunk = await asyncio.to_thread(handle.read, READ_CHUNK)
                except OSError as error:
                    raise _storage_failed(error) from error
                if not chunk:
                    return
                yield chunk

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        except OSError as error:
            raise _storage_failed(error) from error
        return True

    async def discard_partial(self, key: str) -> int:
        """Remove the temporary files of writes of ``key`` that never ended (found by QA: a
        worker killed mid-export left up to the whole partial file, financial history, for
        ever)."""
        pattern = f"{_partial_prefix(check_file_key(key))}*.part"
        try:
            return await asyncio.to_thread(_remove_matching, self._directory, pattern)
        except OSError as error:
            raise _storage_failed(error) from error


def _partial_prefix(key: str) -> str:
    return f".{key}."


def _remove_matching(directory: Path, pattern: str) -> int:
    removed = 0
    for path in directory.glob(pattern):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _create_private(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(descriptor, "wb")


def _flush(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
