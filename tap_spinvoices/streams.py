"""The tap's streams: what each one asks Amazon for; the walking is in windowed.py."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

from singer_sdk import Stream, Tap
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_spinvoices import customer_invoices, export_requests, invoices_api
from tap_spinvoices.bridge import iterate
from tap_spinvoices.documents import DownloadStats, download_document, xml_records
from tap_spinvoices.settings import BRAZIL_MARKETPLACE_ID, parse_datetime
from tap_spinvoices.windowed import WindowedStream, emit_state, load_schema
from tap_spinvoices.windows import Window

# Custom keys in the partition state of invoice_exports / invoice_documents.
PENDING_EXPORTS: Final = "pending_exports"
DONE_DOCUMENTS: Final = "done_document_ids"
# Enough for years of daily exports; older ids fall out and their exports are long done.
MAX_REMEMBERED_DOCUMENTS: Final = 5000

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

    from singer_sdk.helpers.types import Context
    from singer_sdk.singerlib import MetadataMapping

    from tap_spinvoices.bookmarks import StateChange
    from tap_spinvoices.client import SpApiClient
    from tap_spinvoices.connection import ApiSession
    from tap_spinvoices.tap import TapSpinvoices


class CustomerInvoicesStream(WindowedStream):
    """Customer invoices (Base64 PDF) of Direct Fulfillment purchase orders (India, EU).

    SP-API getCustomerInvoices, one request chain per window of at most 7 days, with an RDT.
    """

    name = "customer_invoices"
    primary_keys: ClassVar[list[str]] = ["purchaseOrderNumber"]
    schema = load_schema("customer_invoices")
    default_region = "eu"
    operation = customer_invoices.OPERATION

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        """One partition (and bookmark) per configured ship-from party; none: all parties."""
        # Read raw: partitions are listed at discovery too, before settings are checked.
        parties = self.config.get("ship_from_party_ids") or []
        return [{"ship_from_party_id": party} for party in parties] or None

    @property
    def metadata(self) -> MetadataMapping:
        """Standard metadata, with the PDF digests not selected by default.

        content_sha256 and content_bytes decode every PDF (4 us an invoice, as much as
        the rest of the tap's work): they are written when a catalog selects them.
        """
        if self._metadata is None:
            metadata = super().metadata
            catalog = self._tap_input_catalog
            if catalog is None or catalog.get_stream(self.tap_stream_id) is None:
                for field in customer_invoices.DIGEST_FIELDS:
                    metadata[("properties", field)].selected_by_default = False
        return super().metadata

    def window_pages(
        self, client: SpApiClient, window: Window, context: Context | None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
        """Pages of getCustomerInvoices for one window and party."""
        party = (context or {}).get("ship_from_party_id")
        return customer_invoices.window_pages(
            client,
            window,
            party=party,
            api_version=self.spinvoices.settings.df_api_version,
            digests=frozenset(
                f for f in customer_invoices.DIGEST_FIELDS if self.mask[("properties", f)]
            ),
        )


class BrazilInvoicesApiStream(WindowedStream):
    """A windowed Invoices API 2024-06-19 stream: NA region, one bookmark per marketplace."""

    default_region = "na"
    # getInvoicesExports and getInvoices allow 0.1 requests/s after a burst of 20: windows
    # split for parallelism would only queue. One window covers a week.
    max_window = timedelta(days=7)
    split_for_parallelism = False

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        """One bookmark per marketplace."""
        # Read raw: partitions are listed at discovery too, before settings are checked.
        return [{"marketplaceId": self.config.get("marketplace_id") or BRAZIL_MARKETPLACE_ID}]


class InvoiceExportsStream(BrazilInvoicesApiStream):
    """Invoice exports (Invoices API 2024-06-19, Brazil, NA), listed by creation time.

    getInvoicesExports per window of export creation time. An export still REQUESTED or
    PROCESSING is remembered in state (``pending_exports``, with its window) and fetched again
    with getInvoicesExport at the start of each later run, then re-emitted with its new status
    until it is DONE or ERROR; the target upserts it by exportId. Each DONE export hands its
    documents to the child stream invoice_documents.
    """

    name = "invoice_exports"
    primary_keys: ClassVar[list[str]] = ["exportId"]
    schema = load_schema("invoice_exports")
    operation = invoices_api.GET_EXPORTS

    def __init__(self, tap: Tap) -> None:
        """Remember the document ids of DONE exports for the child stream."""
        super().__init__(tap=tap)
        self.document_ids: dict[str, list[str]] = {}

    def window_pages(
        self, client: SpApiClient, window: Window, context: Context | None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
        """Pages of getInvoicesExports for one window."""
        return invoices_api.exports_window_pages(
            client, window, marketplace=(context or {})["marketplaceId"]
        )

    def has_prelude(self, state: dict[str, Any]) -> bool:
        """Unfinished exports are looked at again first; exports are created if asked."""
        return bool(state.get(PENDING_EXPORTS)) or self.spinvoices.settings.create_exports

    async def prelude(
        self, session: ApiSession, context: Context | None, state: dict[str, Any]
    ) -> AsyncIterator[list[dict[str, Any]] | StateChange]:
        """Exports unfinished when last seen, as they are now; then exports this run creates."""
        marketplace = (context or {})["marketplaceId"]
        for export_id, (start, end) in sorted(state.get(PENDING_EXPORTS, {}).items()):
            export = await invoices_api.get_export(session.client, export_id)
            window = Window(parse_datetime(start), parse_datetime(end))
            yield [invoices_api.export_record(export, marketplace, window)]
        settings = self.spinvoices.settings
        if settings.create_exports:
            async for item in export_requests.create_and_poll(
                session.client,
                marketplace=marketplace,
                state=state,
                start_date=settings.start_date,
                end_date=settings.end_date,
                poll_seconds=settings.export_poll_seconds,
            ):
                yield item

    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Track unfinished exports in state; keep the document ids of finished ones."""
        pending = self.get_context_state(context).setdefault(PENDING_EXPORTS, {})
        export_id = row["exportId"]
        if row.get("status") in invoices_api.UNFINISHED_STATUSES:
            pending[export_id] = [row["window_start"], row["window_end"]]
        else:
            pending.pop(export_id, None)
        if row.get("status") == "DONE":
            self.document_ids[export_id] = list(row.get("invoicesDocumentIds") or [])
        return row

    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        """Documents only exist for DONE exports."""
        del context
        if self.document_ids.get(record["exportId"]):
            yield {"exportId": record["exportId"], "marketplaceId": record["marketplaceId"]}


class InvoicesStream(BrazilInvoicesApiStream):
    """Brazilian FBA invoices found by getInvoices (Invoices API 2024-06-19, NA), by date."""

    name = "invoices"
    primary_keys: ClassVar[list[str]] = ["id"]
    schema = load_schema("invoices")
    operation = invoices_api.GET_INVOICES

    def window_pages(
        self, client: SpApiClient, window: Window, context: Context | None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
        """Pages of getInvoices for one window, oldest first."""
        return invoices_api.invoices_window_pages(
            client,
            window,
            marketplace=(context or {})["marketplaceId"],
            filters=self.spinvoices.settings.invoice_filters,
        )


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
