"""Export documents: mint the 30-second URL, download the ZIP at once, read its XML files.

getInvoicesDocument answers with an S3 pre-signed URL that "expires after 30 seconds" and the
operation allows about one call a minute (burst 1). So a URL is minted only when its download
can start right away (the call itself waits for the budget, then the download follows in the
same task), the ZIP is streamed to a temporary file (never held in memory), and an expired or
failed download is retried with a freshly minted URL.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any, ClassVar, Final

import aiohttp
from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from yarl import URL

from tap_spinvoices.errors import RetriesExhaustedError, unexpected_response
from tap_spinvoices.spapi.operations import GET_INVOICES_DOCUMENT
from tap_spinvoices.streams.invoice_exports import InvoiceExportsStream
from tap_spinvoices.sync.thread_bridge import iterate
from tap_spinvoices.sync.windowed_stream import emit_state, load_schema

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from singer_sdk.helpers.types import Context

    from tap_spinvoices.spapi.client import SpApiCalls
    from tap_spinvoices.tap import TapSpinvoices

# Custom key in the state of invoice_documents.
DONE_DOCUMENTS: Final = "done_document_ids"
# Enough for years of daily exports; older ids fall out and their exports are long done.
MAX_REMEMBERED_DOCUMENTS: Final = 5000
# A failed or expired download is tried again with a new URL this many times in all.
MAX_MINTS: Final = 3
_CHUNK: Final = 1 << 16
# Spill to disk past this size; smaller ZIPs stay in memory.
_SPOOL_BYTES: Final = 8 << 20

logger = logging.getLogger(__name__)


@dataclass
class DownloadStats:
    """What happened to document downloads, for the end-of-run log and the benchmark."""

    minted: int = 0
    downloaded: int = 0
    expired: int = 0
    failed: int = 0


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


async def download_document(
    client: SpApiCalls,
    http: aiohttp.ClientSession,
    document_id: str,
    *,
    stats: DownloadStats,
    timeout_s: float,
) -> IO[bytes]:
    """The document's ZIP in a temporary file (rewound), minting a new URL when one fails."""
    last_problem = ""
    for attempt in range(1, MAX_MINTS + 1):
        url = await mint_url(client, document_id)
        stats.minted += 1
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - returned
        try:
            # The URL is pre-signed: no SP-API headers, and no re-encoding of its query.
            async with http.get(
                URL(url, encoded=True), timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as response:
                if response.status == 200:  # noqa: PLR2004
                    async for chunk in response.content.iter_chunked(_CHUNK):
                        spool.write(chunk)
                    spool.seek(0)
                    stats.downloaded += 1
                    return spool
                if response.status == 403:  # noqa: PLR2004 - S3 AccessDenied: expired
                    stats.expired += 1
                last_problem = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            last_problem = type(exc).__name__
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


def xml_records(
    archive: IO[bytes], *, document_id: str, export_id: str, marketplace: str
) -> Iterator[dict[str, Any]]:
    """One record per XML file of an export ZIP, reading one file at a time."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            name = PurePosixPath(info.filename)
            if info.is_dir() or name.suffix.lower() != ".xml":
                continue
            data = zipped.read(info)
            yield {
                # The file is named after the invoice id of getInvoices (Invoices FAQ).
                "invoiceId": name.stem,
                "exportId": export_id,
                "invoicesDocumentId": document_id,
                "marketplaceId": marketplace,
                "file_name": info.filename,
                "xml": data.decode("utf-8", errors="replace"),
                "xml_sha256": hashlib.sha256(data).hexdigest(),
                "xml_bytes": len(data),
            }


class InvoiceDocumentsStream(Stream):
    """NF-e XML invoices from the documents of DONE exports (child of invoice_exports).

    For each document of a DONE export not downloaded before: getInvoicesDocument mints a
    30-second URL (about one call a minute), the ZIP is downloaded at once, and each XML
    file becomes one record. Finished document ids are kept in state (the last
    ``MAX_REMEMBERED_DOCUMENTS``), so no document is downloaded twice across runs.
    """

    name = "invoice_documents"
    parent_stream_type = InvoiceExportsStream
    primary_keys: ClassVar[list[str]] = ["invoiceId"]
    schema = load_schema("invoice_documents")
    # One state for the stream: a partition per export would grow the state forever.
    state_partitioning_keys: ClassVar[list[str]] = []
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The XML invoices of the export's documents not downloaded yet."""
        if context is None:
            return
        tap: TapSpinvoices = self._tap  # type: ignore[assignment]
        parent = tap.streams[InvoiceExportsStream.name]
        assert isinstance(parent, InvoiceExportsStream)  # noqa: S101 - fixed stream tree
        export_id, marketplace = context["exportId"], context["marketplaceId"]
        state = self.get_context_state(context)
        done: list[str] = state.setdefault(DONE_DOCUMENTS, [])
        todo = [d for d in parent.document_ids.get(export_id, []) if d not in done]
        if not todo:
            return
        stats = DownloadStats()

        async def produce(deliver: Callable[[tuple[str, Any]], Awaitable[None]]) -> None:
            async with tap.open_session(InvoiceExportsStream.default_region) as session:
                for document_id in todo:
                    archive = await download_document(
                        session.client,
                        session.http,
                        document_id,
                        stats=stats,
                        timeout_s=tap.settings.request_timeout_s,
                    )
                    with archive:
                        for record in xml_records(
                            archive,
                            document_id=document_id,
                            export_id=export_id,
                            marketplace=marketplace,
                        ):
                            await deliver(("record", record))
                    await deliver(("done", document_id))

        for kind, payload in iterate(produce, max_pending=2):
            if kind == "record":
                yield payload
            else:
                done.append(payload)
                del done[:-MAX_REMEMBERED_DOCUMENTS]
                emit_state(self)
        self.logger.info(
            "export %s: %d documents downloaded, %d URLs minted, %d expired before use",
            export_id,
            stats.downloaded,
            stats.minted,
            stats.expired,
        )
