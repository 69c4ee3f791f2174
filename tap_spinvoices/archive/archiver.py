"""Storing one document: name it, upload it at most once, and say where it is.

``Archive`` belongs to the run (the store, the account, counters; safe to share between
threads). ``Archive.uploads()`` gives the event loop that calls it an ``Uploads``, which
bounds the bytes and the uploads in flight on that loop; ``Uploads.store(document)`` returns
only once the store holds the document durably (see stores.py), so a record naming the
returned URI can then be written.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tap_spinvoices.archive.failures import Failure, Outcome, read_os_error, read_store_error
from tap_spinvoices.archive.naming import object_name
from tap_spinvoices.errors import ArchiveError
from tap_spinvoices.spapi.retry import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import date

    from tap_spinvoices.archive.config import ArchiveConfig
    from tap_spinvoices.archive.stores import Store


@dataclass(frozen=True)
class Document:
    """Bytes to archive and what they are: the stream, the day, the business identifier.

    ``business_id`` is untrusted (a purchase order number, an NF-e access key, a ZIP entry
    name): naming.py makes it safe. ``extension`` is the tap's own ("pdf", "xml").
    """

    stream: str
    day: date
    business_id: str | bytes
    data: bytes
    extension: str


@dataclass(frozen=True)
class ArchivedFile:
    """Where a document is, and what it is: its SHA-256 (hex) and size in bytes."""

    uri: str
    name: str  # relative to archive_url
    sha256: str
    size: int
    created: bool  # False: an earlier (killed or repeated) run had stored the same bytes


@dataclass
class ArchiveCounts:
    """What a run stored of one stream's documents, for the end-of-sync line."""

    created: int = 0
    reused: int = 0
    created_bytes: int = 0


class Archive:
    """The archive of one run: ``archive_url``'s store and the account whose documents it holds."""

    def __init__(
        self,
        config: ArchiveConfig,
        account_id: str,
        store: Store,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        """Archive into ``store`` (opened from ``config`` by stores.open_store)."""
        self.config = config
        self.account_id = account_id
        self._store = store
        self._sleep = sleep
        self._random = random_fraction
        self._policy = RetryPolicy(max_attempts=config.max_attempts, base_delay=0.2, max_delay=10)
        self._lock = threading.Lock()
        self._counts: dict[str, ArchiveCounts] = {}

    def uploads(self) -> Uploads:
        """The uploads of the running event loop, bounded by the archive_* settings."""
        return Uploads(self, self.config.uploads_in_flight, self.config.bytes_in_flight)

    def counts(self, stream: str) -> ArchiveCounts:
        """A copy of what was stored so far of ``stream``'s documents."""
        with self._lock:
            return ArchiveCounts(**vars(self._counts.get(stream, ArchiveCounts())))

    def close(self) -> None:
        """Release the store's threads and connections."""
        self._store.close()

    def name_of(self, document: Document) -> tuple[str, str]:
        """(name, SHA-256 hex) of a document (pure: naming.py)."""
        digest = hashlib.sha256(document.data).hexdigest()
        name = object_name(
            self.account_id,
            document.stream,
            document.day,
            document.business_id,
            sha256_hex=digest,
            extension=document.extension,
        )
        return name, digest

    async def store_now(self, document: Document) -> ArchivedFile:
        """Store ``document`` (not bounded: ``Uploads.store`` is the bounded way)."""
        name, digest = self.name_of(document)
        created = await self._create(name, document)
        size = len(document.data)
        with self._lock:
            counts = self._counts.setdefault(document.stream, ArchiveCounts())
            if created:
                counts.created += 1
                counts.created_bytes += size
            else:
                counts.reused += 1
        uri = self.config.location.uri(name)
        return ArchivedFile(uri=uri, name=name, sha256=digest, size=size, created=created)

    async def _create(self, name: str, document: Document) -> bool:
        """Create the object (True), or find it there (False); ``ArchiveError`` if neither."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._store.create(name, document.data, document.extension)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every store error is read below
                failure = self._read(exc)
            else:
                return True
            if failure.outcome is Outcome.EXISTS:
                await self._check_existing(name, len(document.data))
                return False
            if failure.outcome is Outcome.STOP or attempt >= self._policy.max_attempts:
                raise self._error(name, failure, attempt)
            await self._sleep(self._policy.delay(attempt, self._random()))

    def _read(self, exc: Exception) -> Failure:
        if self.config.location.is_local:
            if isinstance(exc, OSError):
                return read_os_error(exc)
            return Failure(Outcome.STOP, f"{type(exc).__name__}: {exc}", "report this as a bug")
        return read_store_error(type(exc).__name__, str(exc))

    async def _check_existing(self, name: str, size: int) -> None:
        """Check that the object found under this name is these bytes.

        The name holds their SHA-256, so it is, unless someone altered the object since: its
        size is compared too, so an object cut short is not silently reused.
        """
        try:
            found = await self._store.size(name)
        except Exception as exc:  # noqa: BLE001 - every store error is read
            raise self._error(name, self._read(exc), 1) from None
        if found != size:
            raise self._error(
                name,
                Failure(
                    Outcome.STOP,
                    f"an object of {found} bytes is already stored under the name of these "
                    f"{size} bytes: it was altered or written by someone else",
                    "check it with tap-spinvoices-verify, move it aside, and run again",
                ),
                1,
            )

    def _error(self, name: str, failure: Failure, attempts: int) -> ArchiveError:
        location = self.config.location
        tries = f" ({attempts} attempts)" if failure.outcome is Outcome.RETRY else ""
        return ArchiveError(
            f"Archive error: {failure.problem}{tries}, storing {location.where(name)} "
            f"(archive_url {location.url}). Fix: {failure.fix or 'run again later'}"
        )


class Uploads:
    """The archive as one event loop uses it: at most N uploads and B bytes in flight."""

    def __init__(self, archive: Archive, uploads: int, byte_budget: int) -> None:
        """Bound uploads by count and by bytes (a document larger than the budget goes alone)."""
        self._archive = archive
        self._slots = asyncio.Semaphore(uploads)
        self._budget = byte_budget
        self._in_flight = 0
        self._changed = asyncio.Condition()

    async def store(self, document: Document) -> ArchivedFile:
        """Store ``document`` durably and return where it is (see ``Archive``)."""
        size = len(document.data)
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._in_flight == 0 or self._in_flight + size <= self._budget
            )
            self._in_flight += size
        try:
            async with self._slots:
                return await self._archive.store_now(document)
        finally:
            async with self._changed:
                self._in_flight -= size
                self._changed.notify_all()
