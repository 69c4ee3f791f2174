"""The XML files of export documents: named, archived, then handed on in order.

invoice_documents reads each document's files on the I/O thread (``files_of_document``) and
hands them to ``FileDelivery``: without the archive each file goes on at once; with it, the
files are gathered into pages (at most a quarter of ``archive_mb_in_flight``, at most
``archive_uploads_in_flight`` files), every file of a page is stored at once (``Uploads``),
and a page, then the document's ``PartDone``, crosses to the SDK's thread only once its files
are durable, in order (sync/ordered_stage.py), while the next pages are read and stored. So
no record names a file the archive does not hold, and the document is marked done (its
``PartDone``, then STATE) only after all of its files are stored.

Each file is stored exactly as in the ZIP, under (``archive_document``):

- its NF-e access key (an event: ``<key>-<tpEvento>-<nSeqEvento>``) and the day the NF-e
  bears, read by nfe/identify.py;
- else (not an NF-e, not well-formed, no key) its invoiceId (the entry's path without
  ``.xml``, unique in the document: document_files.py) and the day of the export
  (invoice_exports.export_day);
- a file not named ``.xml``, which the stream keeps as bytes, as ``.bin`` under its
  invoiceId (its own name, escaped) and the export's day.

Both are properties of the file and of its export, so every run names a file the same and
a run after a SIGKILL reuses what the killed one stored.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from typing_extensions import override

from tap_spinvoices.archive.archiver import Document
from tap_spinvoices.streams.document_files import FileKind
from tap_spinvoices.sync.events import Page, PartDone
from tap_spinvoices.sync.ordered_stage import OrderedStage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from datetime import date

    from tap_spinvoices.archive.archiver import Archive, ArchivedFile, Uploads

STREAM: Final = "invoice_documents"
EXTENSION: Final = "xml"
# A file not named .xml (kept as bytes): its own name, escaped, stays in the business id.
RAW_EXTENSION: Final = "bin"
ARCHIVE_URI: Final = "archive_uri"
XML: Final = "xml"
# Always written with the archive: where the file is, and what it is.
ARCHIVE_FIELDS: Final = frozenset({ARCHIVE_URI, "xml_sha256", "xml_bytes"})
# The file itself, which the archive holds: not selected by default with the archive on.
DOCUMENT_FIELDS: Final = frozenset({XML, "xml_base64"})
# Pages being stored while the next are read (as for customer_invoices' pages).
_PREPARING_PAGES: Final = 3
_PAGES_IN_BUDGET: Final = 4


class NamedBytes(Protocol):
    """A file as read from a document (``document_files.DocumentFile``)."""

    @property
    def key(self) -> str:
        """Its invoiceId, unique in its document (untrusted: the naming escapes it)."""

    @property
    def data(self) -> bytes:
        """The bytes, exactly as in the ZIP."""

    @property
    def kind(self) -> FileKind:
        """XML, or a raw file kept as bytes."""


F = TypeVar("F", bound=NamedBytes)


@dataclass(frozen=True)
class DeliveredFile(Generic[F]):
    """A file on its way to its record, and where the archive holds it (None: no archive)."""

    file: F
    archived: ArchivedFile | None


if TYPE_CHECKING:
    # What the SDK's side is handed, in order.
    Deliver = Callable[[Page[DeliveredFile[F]] | PartDone], Awaitable[None]]


def archive_document(key: str, data: bytes, kind: FileKind, export_day: date) -> Document:
    """What a file is archived as: named by its NF-e identity, else by its key and export."""
    if kind is not FileKind.XML:  # kept as bytes: not an NF-e, and no .xml name for it
        return Document(STREAM, export_day, key, data, RAW_EXTENSION)
    # Loaded on first use (lxml, 7 ms): a run without the archive never loads it here.
    from tap_spinvoices.nfe.identify import identify  # noqa: PLC0415

    identity = identify(data)
    business_id = identity.business_id if identity is not None else key
    day = identity.day if identity is not None and identity.day is not None else export_day
    return Document(STREAM, day, business_id, data, EXTENSION)


class FileDelivery(Generic[F]):
    """Files, then each document's end, handed to the SDK's side in order."""

    def __init__(self, deliver: Deliver[F]) -> None:
        """Hand everything to ``deliver`` as it comes."""
        self._deliver = deliver

    async def file(self, part: int, file: F) -> None:
        """A file of document ``part``."""
        await self._deliver(Page(part, [DeliveredFile(file, None)], len(file.data)))

    async def part_done(self, part: int) -> None:
        """Every file of document ``part`` was given."""
        await self._deliver(PartDone(part))


@dataclass
class _Batch(Generic[F]):
    """Files of one document stored together; ``archived`` is filled by their uploads."""

    part: int
    files: list[F] = field(default_factory=list)
    size: int = 0
    archived: list[ArchivedFile] = field(default_factory=list)


class _ArchivingDelivery(FileDelivery[F]):
    """Files stored a page at a time before the page is handed on (see the module doc)."""

    def __init__(
        self,
        stage: OrderedStage[_Batch[F] | PartDone],
        *,
        page_bytes: int,
        page_files: int,
    ) -> None:
        self._stage = stage
        self._page_bytes = page_bytes
        self._page_files = page_files
        self._batch: _Batch[F] | None = None

    @override
    async def file(self, part: int, file: F) -> None:
        """Gather the file into the page being filled; put the page when it is full."""
        batch = self._batch
        if batch is not None and batch.part != part:
            await self._flush()
            batch = None
        if batch is None:
            batch = self._batch = _Batch(part)
        batch.files.append(file)
        batch.size += len(file.data)
        if batch.size >= self._page_bytes or len(batch.files) >= self._page_files:
            await self._flush()

    @override
    async def part_done(self, part: int) -> None:
        """Put the document's last page, then its end."""
        await self._flush()
        await self._stage.put(PartDone(part))

    async def _flush(self) -> None:
        batch, self._batch = self._batch, None
        if batch is not None:
            await self._stage.put(batch)


@asynccontextmanager
async def file_delivery(
    archive: Archive | None, deliver: Deliver[F], *, export_day: date
) -> AsyncIterator[FileDelivery[F]]:
    """Where the files of one export's documents go (the module doc); on the I/O thread.

    When the block ends normally, every file and document end given was handed on. A store
    that refuses ends the block with its ``ArchiveError`` after the pages and document ends
    before the failed page were handed on.
    """
    if archive is None:
        yield FileDelivery(deliver)
        return
    uploads = archive.uploads()
    config = archive.config

    def work(item: _Batch[F] | PartDone) -> Awaitable[None] | None:
        return None if isinstance(item, PartDone) else _store(uploads, item, export_day)

    async def hand_on(item: _Batch[F] | PartDone) -> None:
        if isinstance(item, PartDone):
            await deliver(item)
            return
        files = [DeliveredFile(f, a) for f, a in zip(item.files, item.archived, strict=True)]
        await deliver(Page(item.part, files, item.size))

    async with OrderedStage(work, hand_on, max_pending=_PREPARING_PAGES) as stage:
        yield _ArchivingDelivery(
            stage,
            page_bytes=max(1, config.bytes_in_flight // _PAGES_IN_BUDGET),
            page_files=config.uploads_in_flight,
        )
        await stage.finish()


async def _store(uploads: Uploads, batch: _Batch[Any], export_day: date) -> None:
    """Store every file of the batch at once (bounded by ``uploads``), in the batch's order."""
    tasks = [
        asyncio.ensure_future(uploads.store(archive_document(f.key, f.data, f.kind, export_day)))
        for f in batch.files
    ]
    try:
        batch.archived = list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()  # after a failure: stop the uploads still running (no-op otherwise)
