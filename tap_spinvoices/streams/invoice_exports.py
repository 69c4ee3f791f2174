"""invoice_exports: Invoices API exports by creation time, unfinished ones followed up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date
from typing import TYPE_CHECKING, Any, ClassVar, Final

from typing_extensions import override

from tap_spinvoices.isotime import parse_datetime
from tap_spinvoices.sdk_compat import ChildHandOff
from tap_spinvoices.spapi.operations import GET_INVOICES_EXPORTS
from tap_spinvoices.streams import export_requests, invoices_api
from tap_spinvoices.streams.invoices_api import BrazilInvoicesApiStream
from tap_spinvoices.streams.schemas import load_schema
from tap_spinvoices.sync.events import PreludeRecords
from tap_spinvoices.sync.windows import Window

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping

    from singer_sdk.helpers.types import Context

    from tap_spinvoices.settings import Settings
    from tap_spinvoices.spapi.client import SpApiClient
    from tap_spinvoices.spapi.session import ApiConnection
    from tap_spinvoices.sync.events import PreludeEvent
    from tap_spinvoices.sync.windowed_stream import Prelude

# Custom key in the partition state of invoice_exports.
PENDING_EXPORTS: Final = "pending_exports"


@dataclass(frozen=True)
class DoneExport:
    """A DONE export, as invoice_exports hands it to its child stream invoice_documents."""

    export_id: str
    marketplace_id: str
    document_ids: tuple[str, ...]
    # The archive's day for a file that names none itself (export_day).
    day: date

    @override
    def __str__(self) -> str:
        """What singer-sdk's METRIC lines show of the child context."""
        return f"documents={len(self.document_ids)}"


# Where an export's day is read, in order: Amazon's, then the window that listed it.
_DAY_FIELDS: Final = ("generateExportFinishedAt", "generateExportStartedAt", "window_start")
_FIRST_YEAR: Final = 2000


def export_day(record: Mapping[str, Any]) -> date:
    """The UTC day the export was generated, else the start of the window that listed it.

    The archive files an XML file whose own date cannot be read under this day: a property
    of the export, so every run gives the file the same name. The window (the tap's own,
    always there) only when Amazon sent neither time.
    """
    for name in _DAY_FIELDS:
        value = record.get(name)
        if not isinstance(value, str):
            continue
        try:
            day = parse_datetime(value).astimezone(UTC).date()
        except ValueError:
            continue
        if day.year >= _FIRST_YEAR:
            return day
    msg = f"export {record.get('exportId')!r} has no readable {' or '.join(_DAY_FIELDS)}"
    raise ValueError(msg)


# The child context of invoice_documents holds the export under this key.
DONE_EXPORT: Final = ChildHandOff("export", DoneExport)


class InvoiceExportsStream(BrazilInvoicesApiStream):
    """Invoice exports (Invoices API 2024-06-19, Brazil, NA), listed by creation time.

    getInvoicesExports per window of export creation time. An export still REQUESTED or
    PROCESSING is remembered in state (``pending_exports``, with its window) and fetched again
    with getInvoicesExport in the prelude of each later run, then re-emitted with its new
    status until it is DONE or ERROR; the target upserts it by exportId. Each DONE export
    hands its documents to the child stream invoice_documents (``DoneExport``).
    """

    name = "invoice_exports"
    primary_keys: ClassVar[list[str]] = ["exportId"]
    schema = load_schema("invoice_exports")
    operation = GET_INVOICES_EXPORTS.name

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
    def prelude(self, context: Context | None, state: dict[str, Any]) -> Prelude | None:
        """Unfinished exports are looked at again first; exports are created if asked."""
        pending = state.get(PENDING_EXPORTS) or {}
        settings = self.run.settings
        if not pending and not settings.create_exports:
            return None
        marketplace = (context or {})["marketplaceId"]

        def follow_up(connection: ApiConnection) -> AsyncIterator[PreludeEvent]:
            return follow_up_exports(
                connection.client,
                marketplace=marketplace,
                pending=pending,
                state=state,
                settings=settings,
            )

        return follow_up

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """Track unfinished exports in state: followed up by the next run's prelude."""
        pending = self.get_context_state(context).setdefault(PENDING_EXPORTS, {})
        export_id = row["exportId"]
        if row.get("status") in invoices_api.UNFINISHED_STATUSES:
            pending[export_id] = [row["window_start"], row["window_end"]]
        else:
            pending.pop(export_id, None)
        return row

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        """Documents only exist for DONE exports."""
        del context
        document_ids = record.get("invoicesDocumentIds") or []
        if record.get("status") == "DONE" and document_ids:
            export = DoneExport(
                record["exportId"], record["marketplaceId"], tuple(document_ids), export_day(record)
            )
            yield DONE_EXPORT.context(
                {"exportId": export.export_id, "marketplaceId": export.marketplace_id}, export
            )


async def follow_up_exports(
    client: SpApiClient,
    *,
    marketplace: str,
    pending: Mapping[str, Any],
    state: Mapping[str, Any],
    settings: Settings,
) -> AsyncIterator[PreludeEvent]:
    """Exports unfinished when last seen, as they are now; then exports this run creates."""
    for export_id, (start, end) in sorted(pending.items()):
        export = await invoices_api.get_export(client, export_id)
        window = Window(parse_datetime(start), parse_datetime(end))
        yield PreludeRecords([invoices_api.export_record(export, marketplace, window)])
    if settings.create_exports:
        async for event in export_requests.create_and_poll(
            client,
            marketplace=marketplace,
            state=state,
            start_date=settings.start_date,
            end_date=settings.end_date,
            poll_seconds=settings.export_poll_seconds,
        ):
            yield event
