"""The two kinds of store behind the archive: obstore (S3, GCS, Azure) and a local folder.

Both offer the same four calls: create an object only if its name is free (never overwrite),
the size of an object, list a folder, read an object. Errors come out as the exception the
store raised; failures.py reads them.

**Clouds: obstore.** One library (the Rust object_store crate, no Python dependencies) for
S3, GCS and Azure, async, with conditional create (``mode="create"``: S3 ``If-None-Match: *``,
GCS ``ifGenerationMatch=0``, Azure ``If-None-Match: *``) and its own retries of 5xx answers
and dropped connections. On S3 every PUT carries ``x-amz-checksum-sha256`` (obstore computes
it), so an upload corrupted on the way fails (BadDigest) instead of landing, and the bucket
keeps the checksum (``aws s3api head-object --checksum-mode ENABLED``). Server-side
encryption (SSE-S3, SSE-KMS with a key id) is passed to S3 with every PUT. Documents are
single PUTs (a conditional create is never multipart in obstore; a PDF or an XML file is far
below S3's 5 GB limit for one PUT).

**A local folder: os calls.** obstore's LocalStore writes a staging file and hard-links it
into place, but never fsyncs: after a power cut a name could point at a file whose bytes
never reached the disk. So the local store writes an unnamed file (``O_TMPFILE``), fsyncs it,
links it under its name (``linkat``: fails if the name exists, so nothing is overwritten),
and fsyncs the folder, so the name is durable too (one fsync of a folder covers every name
linked in it before: the files of a page share it). A SIGKILL at any instant leaves nothing
behind: an unnamed file vanishes with its process. File systems without ``O_TMPFILE`` get a
named temporary file (``.<name>.partial-<random>``) in the same folder, linked the same way
and then removed; a SIGKILL there can leave that temporary file, never a wrong object.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol, cast

import obstore
from obstore.store import AzureStore, GCSStore, S3Store

from tap_spinvoices.archive.config import (
    ARCHIVE_OPTIONS,
    GCS,
    S3,
    ArchiveConfig,
    ArchiveLocation,
    needs_plain_http,
)
from tap_spinvoices.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from obstore.store import (
        AzureConfig,
        ClientConfig,
        GCSConfig,
        ObjectStore,
        RetryConfig,
        S3Config,
    )

PARTIAL_MARK: Final = ".partial-"  # in the names of a local store's temporary files
_READ_CHUNK: Final = 1024 * 1024
_MOST_WRITER_THREADS: Final = 32
_CONTENT_TYPES: Final = {
    "pdf": "application/pdf",
    "xml": "application/xml",
    "txt": "text/plain; charset=utf-8",
}


class Store(Protocol):
    """What the archive needs of a store; names are relative to the archive's prefix."""

    async def create(self, name: str, data: bytes, extension: str) -> None:
        """Store ``data`` under ``name``; raise if the name is taken (never overwrite)."""

    async def size(self, name: str) -> int | None:
        """The object's size in bytes, or None if there is no such object."""

    def list_folder(self, folder: str) -> AsyncIterator[tuple[str, int]]:
        """(name, size) of every object under ``folder``."""

    def read(self, name: str) -> AsyncIterator[bytes]:
        """The object's bytes, in chunks."""

    def close(self) -> None:
        """Release threads or connections."""


class CloudStore:
    """S3, GCS or Azure through obstore."""

    def __init__(self, store: ObjectStore, location: ArchiveLocation) -> None:
        """Wrap an obstore store whose prefix is the archive's."""
        self._obstore: ObjectStore | None = store
        self._location = location

    @property
    def _store(self) -> ObjectStore:
        if self._obstore is None:
            msg = "the archive's store is closed"
            raise RuntimeError(msg)
        return self._obstore

    async def create(self, name: str, data: bytes, extension: str) -> None:
        """A conditional PUT (``If-None-Match: *``), SHA-256-checked on S3."""
        await obstore.put_async(
            self._store,
            name,
            data,
            mode="create",
            use_multipart=False,
            attributes={"Content-Type": _CONTENT_TYPES.get(extension, "application/octet-stream")},
        )

    async def size(self, name: str) -> int | None:
        """HEAD the object."""
        try:
            meta = await obstore.head_async(self._store, name)
        except FileNotFoundError:
            return None
        return int(meta["size"])

    async def list_folder(self, folder: str) -> AsyncIterator[tuple[str, int]]:
        """LIST under ``folder/``."""
        async for batch in obstore.list(self._store, prefix=folder.rstrip("/") + "/"):
            for meta in batch:
                yield str(meta["path"]), int(meta["size"])

    async def read(self, name: str) -> AsyncIterator[bytes]:
        """GET the object, streamed."""
        result = await obstore.get_async(self._store, name)
        async for chunk in result.stream(min_chunk_size=_READ_CHUNK):
            yield bytes(chunk)

    def close(self) -> None:
        """Drop the obstore store now, while the interpreter is whole.

        Dropped during the interpreter's shutdown instead, its runtime's threads sometimes
        abort the process (SIGABRT after the last line: 7 of 100 verify runs here).
        """
        self._obstore = None


class _FolderSync:
    """Group commit of one folder: an fsync of it makes every name linked in it before durable.

    Many files land in one day folder at once; each must not be reported stored before its
    name is on disk, but one fsync of the folder covers every link made before it started.
    So a thread whose link is already covered by a finished fsync returns at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()
        self._linked = 0
        self._synced = 0

    def linked(self) -> int:
        """Count one more name linked in the folder; its ticket for ``make_durable``."""
        with self._lock:
            self._linked += 1
            return self._linked

    def make_durable(self, ticket: int, folder: int) -> None:
        """Return once the link with ``ticket`` is on disk (fsync of ``folder`` if needed)."""
        with self._one_at_a_time:
            with self._lock:
                if self._synced >= ticket:
                    return
                covered = self._linked  # every link up to here happened before this fsync
            os.fsync(folder)
            with self._lock:
                self._synced = max(self._synced, covered)


class FolderStore:
    """A local folder, written durably (see the module doc); blocking calls run in threads."""

    def __init__(self, root: Path, threads: int) -> None:
        """Use ``root``, which must exist; at most ``threads`` files are written at once."""
        self._root = root
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="spinvoices-archive")
        self._lock = threading.Lock()
        self._folders: dict[str, _FolderSync] = {}  # folders known to exist, by path

    async def create(self, name: str, data: bytes, extension: str) -> None:
        """Write, fsync, link into place, fsync the folder (in a worker thread)."""
        del extension
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._create, name, data)

    def _create(self, name: str, data: bytes) -> None:
        path = self._path(name)
        parent, file_name = os.path.split(path)
        sync = self._folder(parent)
        folder = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if not _create_unnamed(folder, file_name, data):
                _create_named(folder, file_name, data)
            sync.make_durable(sync.linked(), folder)
        finally:
            os.close(folder)

    def _folder(self, parent: str) -> _FolderSync:
        """The folder's group commit, creating the folder (and fsyncing its entry) if new."""
        with self._lock:
            known = self._folders.get(parent)
        if known is not None:
            return known
        if not self._root.is_dir():
            raise FileNotFoundError(errno.ENOENT, "archive folder does not exist", str(self._root))
        _make_folders(self._root, Path(parent))
        with self._lock:
            return self._folders.setdefault(parent, _FolderSync())

    def _path(self, name: str) -> str:
        """The file of ``name``; a name that could leave the root is refused (naming.py)."""
        segments = name.split("/")
        if name.startswith("/") or any(s in {"", ".", ".."} for s in segments) or "\x00" in name:
            msg = f"unsafe object name {name!r}"
            raise ValueError(msg)
        return os.path.join(self._root, *segments)  # noqa: PTH118 - a str: the hot path

    async def size(self, name: str) -> int | None:
        """Stat the file (in a worker thread)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._size, name)

    def _size(self, name: str) -> int | None:
        try:
            return Path(self._path(name)).stat().st_size
        except FileNotFoundError:
            return None

    async def list_folder(self, folder: str) -> AsyncIterator[tuple[str, int]]:
        """Walk the folder (temporary files of a killed run are not objects)."""
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(self._pool, self._walk, self._root / folder)
        for item in found:
            yield item

    def _walk(self, top: Path) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for directory, folders, files in os.walk(top):
            folders.sort()
            for file_name in sorted(files):
                if PARTIAL_MARK in file_name:
                    continue
                path = Path(directory, file_name)
                found.append((path.relative_to(self._root).as_posix(), path.stat().st_size))
        return found

    async def read(self, name: str) -> AsyncIterator[bytes]:
        """Read the file in chunks, in a worker thread."""
        loop = asyncio.get_running_loop()
        handle = await loop.run_in_executor(self._pool, Path(self._path(name)).open, "rb")
        try:
            while chunk := await loop.run_in_executor(self._pool, handle.read, _READ_CHUNK):
                yield chunk
        finally:
            handle.close()

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=True)


def _make_folders(root: Path, folder: Path) -> None:
    """Create ``folder`` (under ``root``) and its missing parents, each new entry fsync'd."""
    missing: list[Path] = []
    cursor = folder
    while cursor != root and not cursor.is_dir():
        missing.append(cursor)
        cursor = cursor.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another run made it meanwhile
            path.mkdir()
        _fsync_folder(path.parent)


def _fsync_folder(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _create_unnamed(folder: int, name: str, data: bytes) -> bool:
    """O_TMPFILE, fsync, linkat: False when the file system has no O_TMPFILE."""
    try:
        handle = os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o644, dir_fd=folder)
    except OSError as exc:
        if exc.errno in {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL}:
            return False
        raise
    try:
        _write_all(handle, data)
        os.fdatasync(handle)  # the bytes (and the size that reads them back) on disk
        try:
            # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N gives the unnamed file a name.
            os.link(f"/proc/self/fd/{handle}", name, dst_dir_fd=folder, follow_symlinks=True)
        except FileNotFoundError:  # no /proc: fall back to a named temporary file
            return False
    finally:
        os.close(handle)
    return True


def _create_named(folder: int, name: str, data: bytes) -> None:
    temporary = f".{name}{PARTIAL_MARK}{secrets.token_hex(6)}"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=folder)
    try:
        try:
            _write_all(handle, data)
            os.fdatasync(handle)
        finally:
            os.close(handle)
        os.link(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=folder)


def _write_all(handle: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view) :]


def open_store(config: ArchiveConfig, environ: Mapping[str, str] | None = None) -> Store:
    """The store ``config`` names; ``ConfigError`` for options the store refuses."""
    location = config.location
    if location.folder is not None:
        # More writer threads than this buy nothing on one disk (fsync-bound).
        return FolderStore(location.folder, min(config.uploads_in_flight, _MOST_WRITER_THREADS))
    env = os.environ if environ is None else environ
    options = dict(config.options)
    client: ClientConfig = {
        "timeout": timedelta(seconds=config.request_timeout_s),
        "connect_timeout": timedelta(seconds=min(10.0, config.request_timeout_s)),
        "allow_http": needs_plain_http(location, options, env),
    }
    retry: RetryConfig = {
        "max_retries": max(0, config.max_attempts - 1),
        "backoff": {
            "init_backoff": timedelta(milliseconds=100),
            "max_backoff": timedelta(seconds=15),
            "base": 2,
        },
        "retry_timeout": timedelta(seconds=max(60.0, 3 * config.request_timeout_s)),
    }
    try:
        return CloudStore(_cloud(config, options, client, retry), location)
    except (obstore.exceptions.BaseError, ValueError, TypeError) as exc:
        raise ConfigError(
            ARCHIVE_OPTIONS,
            f"the store refused the options ({type(exc).__name__}: {_first_line(exc)})",
            "use the option names and values of obstore's S3Config, GCSConfig or AzureConfig",
        ) from None


def _cloud(
    config: ArchiveConfig,
    options: dict[str, str | bool],
    client: ClientConfig,
    retry: RetryConfig,
) -> ObjectStore:
    location = config.location
    prefix = location.prefix or None
    if location.scheme == S3:
        options.setdefault("checksum_algorithm", "SHA256")
        if config.server_side_encryption:
            options["server_side_encryption"] = config.server_side_encryption
        if config.kms_key_id:
            options["sse_kms_key_id"] = config.kms_key_id
        return S3Store(
            location.container, prefix=prefix, config=cast("S3Config", options),
            client_options=client,
            retry_config=retry,
        )  # fmt: skip
    if location.scheme == GCS:
        return GCSStore(
            location.container, prefix=prefix, config=cast("GCSConfig", options),
            client_options=client,
            retry_config=retry,
        )  # fmt: skip
    if location.account_host:
        options.setdefault("account_name", location.account_host.split(".", 1)[0])
    return AzureStore(
        location.container, prefix=prefix, config=cast("AzureConfig", options),
        client_options=client,
        retry_config=retry,
    )  # fmt: skip


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
