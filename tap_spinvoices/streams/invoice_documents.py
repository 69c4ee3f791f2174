"""Export documents: mint the 30-second URL, download the ZIP at once, read its NF-e files.

getInvoicesDocument answers with an S3 pre-signed URL that "expires after 30 seconds" and the
operation allows about one call a minute (burst 1). So a URL is minted only when its download
can start right away (the call itself waits for the budget, then the download follows in the
same task), the ZIP is streamed to a temporary file (never held in memory), and an expired or
failed download is retried with a freshly minted URL.

The pipeline, one document (a part, sync/events.py) after the other:

- I/O thread: ``files_of_document`` mints, downloads (at most ``max_document_mb``) and opens
  the document, and yields its files (``DocumentFile``, read within bounds by
  ``tap_spinvoices.streams.document_files``) one at a time; each crosses the bridge as a page
  of its part, and ``PartDone`` follows the document's last file. A download cut short or
  corrupt is fetched once more from a fresh URL. With ``archive_url``, each file is stored
  between ``files_of_document`` and the delivery, and crosses only once stored
  (``invoice_document_files.py``).
- SDK thread: ``_DocumentReader`` turns each file into one invoice_documents record, the raw
  XML and, read by nfelib (``tap_spinvoices.nfe.parse``), the NF-e's key fields. Parsing runs
  there, as records are consumed, never on the event loop that paces the requests and
  downloads. The document's item lines and events are collected into one ``DocumentNfeRows``,
  which the record of its last file carries to the child streams invoice_items and
  invoice_events (``tap_spinvoices.streams.nfe_children``, through ``NFE_ROWS``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import tempfile
from collections.abc import Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any, ClassVar, Final

import aiohttp
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override
from yarl import URL

from tap_spinvoices.account import ACCOUNT_ID
from tap_spinvoices.errors import RetriesExhaustedError, SpinvoicesError, unexpected_response
from tap_spinvoices.nfe.fields import NFE_FIELDS, PARSED
from tap_spinvoices.sdk_compat import ChildHandOff
from tap_spinvoices.spapi.operations import GET_INVOICES_DOCUMENT
from tap_spinvoices.streams import invoice_document_files as archived_files
from tap_spinvoices.streams.archive_selection import ArchiveSelection
from tap_spinvoices.streams.document_files import (
    DocumentFile,
    DocumentLimits,
    DocumentReadError,
    FileKind,
    megabytes,
    read_document,
)
from tap_spinvoices.streams.invoice_exports import DONE_EXPORT, DoneExport, InvoiceExportsStream
from tap_spinvoices.streams.schemas import load_schema
from tap_spinvoices.sync.api_stream import ApiStream, EventReader

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable

    from singer_sdk.helpers.types import Context

    from tap_spinvoices.archive.archiver import ArchivedFile
    from tap_spinvoices.nfe.parse import ParseOutcome
    from tap_spinvoices.spapi.client import SpApiCalls
    from tap_spinvoices.spapi.session import ApiConnection
    from tap_spinvoices.sync.api_stream import StreamEvent
    from tap_spinvoices.sync.events import Page, PartDone

# Custom key in the state of invoice_documents.
DONE_DOCUMENTS: Final = "done_document_ids"
# Enough for years of daily exports; older ids fall out and their exports are long done.
MAX_REMEMBERED_DOCUMENTS: Final = 5000
# A failed or expired download is tried again with a new URL this many times in all.
MAX_MINTS: Final = 3
_CHUNK: Final = 1 << 16
# Spill to disk past this size; smaller ZIPs stay in memory.
_SPOOL_BYTES: Final = 8 << 20
# A download cut short or corrupt is read this many times in all, each from a fresh URL.
MAX_READS: Final = 2
# parse_status of a file kept as raw bytes (FileKind.RAW): not read by nfelib.
NOT_XML: Final = "not_xml"

logger = logging.getLogger(__name__)


@dataclass
class DownloadStats:
    """What happened to document downloads, for the end-of-run log and the benchmark."""

    minted: int = 0
    downloaded: int = 0
    expired: int = 0
    failed: int = 0
    damaged: int = 0  # read, found cut short or corrupt, downloaded again


@dataclass(frozen=True)
class DocumentFetching:
    """How the documents of one export are fetched: the timeout, the bounds, the counters."""

    timeout_s: float
    limits: DocumentLimits
    stats: DownloadStats = field(default_factory=DownloadStats)


async def mint_url(client: SpApiCalls, document_id: str) -> str:
    """Ask getInvoicesDocument for the document's pre-signed URL (waits for the budget)."""
    operation = GET_INVOICES_DOCUMENT
    path = operation.path_for(invoicesDocumentId=document_id)
    body = await client.get_json(operation.name, path, {})
    document = body.get("invoicesDocument")
    url = document.get("invoicesDocumentUrl") if isinstance(document, Mapping) else None
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise unexpected_response(operation.name, "no invoicesDocumentUrl")
    return url


@dataclass(frozen=True)
class DownloadedDocument:
    """A downloaded document body (rewound) and the file name its URL's path ends with."""

    body: IO[bytes]
    url_name: str


async def download_document(
    client: SpApiCalls,
    http: aiohttp.ClientSession,
    document_id: str,
    fetching: DocumentFetching,
) -> DownloadedDocument:
    """The document's body in a temporary file, minting a new URL when a download fails.

    Raises:
        DocumentReadError: The body is longer than max_document_mb: the
            download stops there, and the temporary file is gone.
        RetriesExhaustedError: Every download failed.

    """
    stats, max_bytes = fetching.stats, fetching.limits.max_download_bytes
    last_problem = ""
    for attempt in range(1, MAX_MINTS + 1):
        url = await mint_url(client, document_id)
        stats.minted += 1
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - returned
        try:
            # The URL is pre-signed: no SP-API headers, and no re-encoding of its query.
            async with http.get(
                URL(url, encoded=True), timeout=aiohttp.ClientTimeout(total=fetching.timeout_s)
            ) as response:
                if response.status == 200:  # noqa: PLR2004
                    await _spool_body(response, spool, max_bytes)
                    spool.seek(0)
                    stats.downloaded += 1
                    return DownloadedDocument(spool, PurePosixPath(URL(url).path).name)
                if response.status == 403:  # noqa: PLR2004 - S3 AccessDenied: expired
                    stats.expired += 1
                last_problem = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            last_problem = type(exc).__name__
        except BaseException:
            spool.close()
            raise
        spool.close()
        stats.failed += 1
        logger.warning(
            "download of invoices document %s failed (%s); minting a new URL (%d/%d)",
            document_id,
            last_problem,
            attempt,
            MAX_MINTS,
        )
    msg = (
        f"{GET_INVOICES_DOCUMENT.name}: the download of invoices document {document_id} failed "
        f"{MAX_MINTS} times (last: {last_problem})"
    )
    raise RetriesExhaustedError(msg)


async def _spool_body(response: aiohttp.ClientResponse, spool: IO[bytes], max_bytes: int) -> None:
    """Write the body to ``spool``, refusing it at once past ``max_bytes`` (max_document_mb)."""
    length = response.content_length
    if length is not None and length > max_bytes:
        raise _too_long(f"{megabytes(length)} (its Content-Length)", max_bytes)
    written = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        written += len(chunk)
        if written > max_bytes:
            raise _too_long(
                f"more than {megabytes(max_bytes)} (the download was stopped)", max_bytes
            )
        spool.write(chunk)


def _too_long(size: str, max_bytes: int) -> DocumentReadError:
    return DocumentReadError(
        f"is longer than max_document_mb ({megabytes(max_bytes)}): {size}",
        "raise max_document_mb if documents this large are expected (the tap keeps one "
        "document at a time in a temporary file)",
    )


class DocumentFormatError(SpinvoicesError):
    """A downloaded document the tap cannot read, or past a bound: one line naming it."""


async def files_of_document(
    connection: ApiConnection,
    document_id: str,
    *,
    export_id: str,
    fetching: DocumentFetching,
) -> AsyncGenerator[DocumentFile]:
    """The files of one document, downloaded now (its URL is minted just before).

    A document cut short or corrupt is downloaded once more from a fresh URL and read again;
    files yielded before the damage was found are not yielded twice (keys are assigned in
    archive order, so the same file has the same key).

    Raises:
        DocumentFormatError: The document cannot be read, or is past a bound: one line
            naming the export, the document, the cause and the fix.

    """
    yielded: set[str] = set()
    for read in range(1, MAX_READS + 1):
        try:
            document = await download_document(
                connection.client, connection.http, document_id, fetching
            )
            with document.body:
                files = read_document(
                    document.body,
                    url_name=document.url_name,
                    document_id=document_id,
                    limits=fetching.limits,
                )
                for file in files:
                    if file.key not in yielded:
                        yielded.add(file.key)
                        yield file
        except DocumentReadError as exc:
            if not exc.transfer_damage or read == MAX_READS:
                raise _unreadable(export_id, document_id, exc, reads=read) from None
            fetching.stats.damaged += 1
            logger.warning(
                "export %s, document %s %s: downloading it again from a fresh URL (%d/%d)",
                export_id,
                document_id,
                exc.problem,
                read + 1,
                MAX_READS,
            )
        else:
            return


def _unreadable(
    export_id: str, document_id: str, problem: DocumentReadError, *, reads: int
) -> DocumentFormatError:
    again = f" on all {reads} downloads, each from a fresh URL" if reads > 1 else ""
    return DocumentFormatError(
        f"{GET_INVOICES_DOCUMENT.name}: invoices document {document_id} of export {export_id} "
        f"{problem.problem}{again}. Fix: {problem.fix}"
    )


def document_record(
    file: DocumentFile,
    *,
    document_id: str,
    export_id: str,
    marketplace: str,
    archived: ArchivedFile | None = None,
) -> tuple[dict[str, Any], ParseOutcome | None]:
    """The invoice_documents record of one file, and what nfelib read from it (None: raw).

    The text is the bytes' own: UTF-8 bytes go into ``xml`` as they are, any others (and
    every raw file) as Base64 into ``xml_base64``, flagged by ``content_is_base64``. With the
    archive, the file's digest and size are the ones its upload computed (``archived``), and
    its ``archive_uri`` is filled.
    """
    data = file.data
    outcome: ParseOutcome | None = None
    text: str | None = None
    if file.kind is FileKind.XML:
        # Loaded on first use: runs that read no document never load nfelib's bindings.
        from tap_spinvoices.nfe.parse import parse_xml  # noqa: PLC0415

        outcome = parse_xml(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if archived is None:
        digest, size = hashlib.sha256(data).hexdigest(), len(data)
    else:
        digest, size = archived.sha256, archived.size
    record: dict[str, Any] = {
        # The file is named after the invoice id of getInvoices (Invoices FAQ); in a folder
        # or a ZIP inside the ZIP its path keeps two files with the same name apart.
        "invoiceId": file.key,
        "exportId": export_id,
        "invoicesDocumentId": document_id,
        "marketplaceId": marketplace,
        "file_name": file.path,
        "xml": text,
        "xml_base64": None if text is not None else base64.b64encode(data).decode("ascii"),
        "content_is_base64": text is None,
        "xml_sha256": digest,
        "xml_bytes": size,
        "parse_status": outcome.status if outcome else NOT_XML,
        "parse_error": outcome.reason if outcome else file.warning,
        "document_type": outcome.document_type if outcome else None,
    }
    if archived is not None:
        record[archived_files.ARCHIVE_URI] = archived.uri
    for name in NFE_FIELDS:
        record[name] = outcome.invoice.get(name) if outcome else None
    return record, outcome


@dataclass(frozen=True)
class DocumentNfeRows:
    """The NF-e item lines and events of one export document, for invoice_items and _events.

    Each row names the file it was read from (invoiceId, invoicesDocumentId, exportId,
    marketplaceId) and whose it is (account_id).
    """

    document_id: str
    items: list[dict[str, Any]]
    events: list[dict[str, Any]]

    @override
    def __str__(self) -> str:
        """What singer-sdk's METRIC lines show of the child context."""
        return f"items={len(self.items)} events={len(self.events)}"


# The record of a document's last file carries its rows to the child streams' contexts.
NFE_ROWS: Final = ChildHandOff("nfe_rows", DocumentNfeRows)


@dataclass
class _DocumentReader(EventReader[archived_files.DeliveredFile[DocumentFile]]):
    """What invoice_documents' events mean on the SDK's thread: files become records."""

    export: DoneExport
    document_ids: list[str]  # by part
    done: list[str]  # the state's done_document_ids
    account: str
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
    # Rows of the document being read, until its last file's record carries them.
    items: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    files_in_part: int = 0
    warnings: int = 0  # WARNING lines about the export's documents and files, for the summary

    @override
    def page_records(
        self, page: Page[archived_files.DeliveredFile[DocumentFile]]
    ) -> list[dict[str, Any]]:
        """One record per file; the last file's carries the document's rows (``NFE_ROWS``)."""
        document_id = self.document_ids[page.part]
        records = []
        for delivered in page.items:
            file = delivered.file
            record, outcome = document_record(
                file,
                document_id=document_id,
                export_id=self.export.export_id,
                marketplace=self.export.marketplace_id,
                archived=delivered.archived,
            )
            self.files_in_part += 1
            if file.warning:
                self.warnings += 1
                self.logger.warning(
                    "export %s, document %s, entry %s: %s",
                    self.export.export_id,
                    document_id,
                    file.path,
                    file.warning,
                )
            if outcome is not None:
                self._collect_rows(record, outcome)
            if file.last:
                rows = DocumentNfeRows(document_id, self.items, self.events)
                self.items, self.events = [], []
                NFE_ROWS.carry(record, rows)
            records.append(record)
        return records

    @override
    def part_done(self, done: PartDone) -> None:
        """Remember the document as downloaded (its rows were handed over before)."""
        if not self.files_in_part:
            self.warnings += 1
            self.logger.warning(
                "export %s, document %s: the document holds no file (an empty ZIP): no record "
                "to write; marked done",
                self.export.export_id,
                self.document_ids[done.part],
            )
        self.files_in_part = 0
        self.done.append(self.document_ids[done.part])
        del self.done[:-MAX_REMEMBERED_DOCUMENTS]

    def _collect_rows(self, record: dict[str, Any], outcome: ParseOutcome) -> None:
        if outcome.status != PARSED:
            self.warnings += 1
            self.logger.warning(
                "export %s, document %s, file %s: NF-e not read (%s): %s",
                record["exportId"],
                record["invoicesDocumentId"],
                record["file_name"],
                outcome.status,
                outcome.reason,
            )
            return
        source = {
            "invoiceId": record["invoiceId"],
            "invoicesDocumentId": record["invoicesDocumentId"],
            "exportId": record["exportId"],
            "marketplaceId": record["marketplaceId"],
            ACCOUNT_ID: self.account,  # items and events are the parent's account's
        }
        self.items.extend({**row, **source} for row in outcome.items)
        self.events.extend({**row, **source} for row in outcome.events)


class InvoiceDocumentsStream(ArchiveSelection, ApiStream):
    """NF-e XML invoices from the documents of DONE exports (child of invoice_exports).

    For each document of a DONE export not downloaded before: getInvoicesDocument mints a
    30-second URL (about one call a minute), the ZIP is downloaded at once, and each
    file becomes one record with the fields nfelib read from it. Finished document ids are
    kept in state (the last ``MAX_REMEMBERED_DOCUMENTS``), so no document is downloaded
    twice across runs.

    The item lines and events of a document are handed to the child streams with its last
    file's record (one child sync per document, not per file: each sync logs), before the
    document is marked done in state.
    """

    name = "invoice_documents"
    parent_stream_type = InvoiceExportsStream
    primary_keys: ClassVar[list[str]] = ["invoiceId"]
    schema = load_schema("invoice_documents")
    # One state for the stream: a partition per export would grow the state forever (and
    # would store the export's hand-off, which is no JSON, in it).
    state_partitioning_keys: ClassVar[list[str]] = []
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    default_region = InvoiceExportsStream.default_region
    # The archive's defaults (archive_selection.py); the digests are written either way.
    archive_fields = archived_files.ARCHIVE_FIELDS
    unselected_without_archive = frozenset({archived_files.ARCHIVE_URI})
    document_fields = archived_files.DOCUMENT_FIELDS

    @override
    def preprocess_context(self, context: Context) -> Context:
        """Check the context holds the export invoice_exports handed over."""
        DONE_EXPORT.read(context)
        return context

    @override
    def generate_child_contexts(
        self,
        record: dict[str, Any],
        context: Context | None,
    ) -> Iterable[Context | None]:
        """One child context per document, on its last file's record (which carries the rows)."""
        rows = NFE_ROWS.take(record)
        if rows is not None:
            fields = {
                "exportId": record["exportId"],
                "marketplaceId": record["marketplaceId"],
                "invoicesDocumentId": rows.document_id,
            }
            yield NFE_ROWS.context(fields, rows)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The XML invoices of the export's documents not downloaded yet."""
        if context is None:
            return
        export = DONE_EXPORT.read(context)
        state = self.get_context_state(context)
        done: list[str] = state.setdefault(DONE_DOCUMENTS, [])
        todo = [d for d in export.document_ids if d not in done]
        if not todo:
            return
        settings = self.run.settings
        limits = DocumentLimits(
            max_download_bytes=settings.max_document_bytes,
            max_files=settings.max_document_files,
            max_file_bytes=settings.max_record_bytes,
        )
        fetching = DocumentFetching(settings.request_timeout_s, limits)
        stats = fetching.stats
        archive = self.run.archive

        async def fetch(
            connection: ApiConnection,
            deliver: Callable[
                [StreamEvent[archived_files.DeliveredFile[DocumentFile]]], Awaitable[None]
            ],
        ) -> None:
            async with archived_files.file_delivery(
                archive, deliver, export_day=export.day
            ) as delivery:
                for part, document_id in enumerate(todo):
                    files = files_of_document(
                        connection,
                        document_id,
                        export_id=export.export_id,
                        fetching=fetching,
                    )
                    # Closed at once if the run stops here: the document's temporary file goes.
                    async with aclosing(files):
                        async for file in files:
                            await delivery.file(part, file)
                    await delivery.part_done(part)

        reader = _DocumentReader(export, todo, done, self.run.settings.account_id, self.logger)
        yield from self.write_events(self.fetch_events(fetch, max_pending=2), reader, state)
        self.logger.info(
            "export %s: %d documents downloaded, %d URLs minted, %d expired before use, %d "
            "downloaded again (cut short or corrupt), %d warnings about documents and files",
            export.export_id,
            stats.downloaded,
            stats.minted,
            stats.expired,
            stats.damaged,
            reader.warnings,
        )
        self.log_archived("XML files")
