"""invoice_exports: Invoices API exports by creation time, unfinished ones followed up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Final

from typing_extensions import override

from tap_spinvoices.isotime import parse_datetime
from tap_spinvoices.spapi.operations import GET_INVOICES_EXPORTS
from tap_spinvoices.streams import export_requests, invoices_api
from tap_spinvoices.streams.invoices_api import BrazilInvoicesApiStream
from tap_spinvoices.sync.windowed_stream import load_schema
from tap_spinvoices.sync.windows import Window

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_spinvoices.spapi.client import SpApiClient
    from tap_spinvoices.spapi.session import ApiSession
    from tap_spinvoices.sync.bookmarks import StateChange

# Custom key in the partition state of invoice_exports.
PENDING_EXPORTS: Final = "pending_exports"


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
    operation = GET_INVOICES_EXPORTS.name

    @override
    def __init__(self, tap: Tap) -> None:
        """Remember the document ids of DONE exports for the child stream."""
        super().__init__(tap=tap)
        self.document_ids: dict[str, list[str]] = {}

    @override
    def window_pages(
        self, client: SpApiClient, window: Window, context: Context | None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
        """Pages of getInvoicesExports for one window."""
        return invoices_api.exports_window_pages(
            client,
            window,
            marketplace=(context or {})["marketplaceId"],
            forms=self.follow_up_forms,
        )

    @override
    def has_prelude(self, state: dict[str, Any]) -> bool:
        """Unfinished exports are looked at again first; exports are created if asked."""
        return bool(state.get(PENDING_EXPORTS)) or self.run.settings.create_exports

    @override
    async def prelude(
        self, session: ApiSession, context: Context | None, state: dict[str, Any]
    ) -> AsyncIterator[list[dict[str, Any]] | StateChange]:
        """Exports unfinished when last seen, as they are now; then exports this run creates."""
        marketplace = (context or {})["marketplaceId"]
        for export_id, (start, end) in sorted(state.get(PENDING_EXPORTS, {}).items()):
            export = await invoices_api.get_export(session.client, export_id)
            window = Window(parse_datetime(start), parse_datetime(end))
            yield [invoices_api.export_record(export, marketplace, window)]
        settings = self.run.settings
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

    @override
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

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        """Documents only exist for DONE exports."""
        del context
        if self.document_ids.get(record["exportId"]):
            yield {"exportId": record["exportId"], "marketplaceId": record["marketplaceId"]}
