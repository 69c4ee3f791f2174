"""Invoices API 2024-06-19 (Brazil FBA NF-e): exports and invoice search, requests and records."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from typing_extensions import override

from tap_spinvoices.errors import unexpected_response
from tap_spinvoices.spapi.client import request_id_of
from tap_spinvoices.spapi.operations import GET_INVOICES, GET_INVOICES_EXPORT, GET_INVOICES_EXPORTS
from tap_spinvoices.spapi.paging import FollowUpForms
from tap_spinvoices.spapi.responses import json_type
from tap_spinvoices.streams.pager import ParsedPage, WindowRequest, follow_pages
from tap_spinvoices.sync.bookmarks import format_instant
from tap_spinvoices.sync.windowed_stream import WindowedStream
from tap_spinvoices.sync.windows import Window, api_timestamp

if TYPE_CHECKING:
    from tap_spinvoices.spapi.client import SpApiCalls
    from tap_spinvoices.spapi.operations import Operation
    from tap_spinvoices.streams.pager import PageClient

PAGE_SIZE: Final = 100  # getInvoicesExports and getInvoices answer at most 100 items a page

# Export.status values (ExportStatus): the two that still change.
UNFINISHED_STATUSES: Final = frozenset({"REQUESTED", "PROCESSING"})
# The model's fields of an Export object, the invoice_exports record's own.
EXPORT_FIELDS: Final = (
    "exportId",
    "status",
    "generateExportStartedAt",
    "generateExportFinishedAt",
    "invoicesDocumentIds",
    "errorMessage",
)
# The model's fields of an Invoice object (getInvoices), the invoices record's own; the
# fields read from an NF-e file are nfe.fields.NFE_FIELDS.
INVOICE_FIELDS: Final = (
    "id",
    "date",
    "errorCode",
    "externalInvoiceId",
    "govResponse",
    "invoiceType",
    "series",
    "status",
    "transactionIds",
    "transactionType",
)
_ITEM_BYTES: Final = 600  # rough memory of one export or invoice, for the read-ahead budget


def pick(item: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The model's fields of an API object (absent ones as null), nothing else."""
    return {name: item.get(name) for name in fields}


def export_record(export: Mapping[str, Any], marketplace: str, window: Window) -> dict[str, Any]:
    """An invoice_exports record: the Export object plus its marketplace and listing window."""
    return _record(export, EXPORT_FIELDS, marketplace, window)


def invoice_record(invoice: Mapping[str, Any], marketplace: str, window: Window) -> dict[str, Any]:
    """An invoices record: the Invoice object plus its marketplace and search window."""
    return _record(invoice, INVOICE_FIELDS, marketplace, window)


def _record(
    item: Mapping[str, Any], fields: tuple[str, ...], marketplace: str, window: Window
) -> dict[str, Any]:
    record = pick(item, fields)
    record["marketplaceId"] = marketplace
    record["window_start"] = format_instant(window.start)
    record["window_end"] = format_instant(window.end)
    return record


async def exports_window_pages(
    client: PageClient, window: Window, *, marketplace: str, forms: FollowUpForms
) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
    """Pages of getInvoicesExports for exports created in one window."""
    first: dict[str, str | int] = {
        "marketplaceId": marketplace,
        # Filters on the export's creation time; bounds as for getCustomerInvoices.
        "dateStart": api_timestamp(window.created_after),
        "dateEnd": api_timestamp(window.created_before),
        "pageSize": PAGE_SIZE,
    }
    operation = GET_INVOICES_EXPORTS
    request = WindowRequest(
        operation.name, operation.path, first, window, page_size_param="pageSize"
    )
    async for items in follow_pages(client, request, _page_parser(operation, "exports"), forms):
        records = [export_record(e, marketplace, window) for e in items]
        yield records, _ITEM_BYTES * len(records)


async def invoices_window_pages(
    client: PageClient,
    window: Window,
    *,
    marketplace: str,
    filters: Mapping[str, str],
    forms: FollowUpForms,
) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
    """Pages of getInvoices for invoices dated in one window, oldest first."""
    first: dict[str, str | int] = {
        "marketplaceId": marketplace,
        "dateStart": api_timestamp(window.created_after),
        "dateEnd": api_timestamp(window.created_before),
        "sortBy": "START_DATE_TIME",
        "sortOrder": "ASC",
        "pageSize": PAGE_SIZE,
        **filters,
    }
    operation = GET_INVOICES
    request = WindowRequest(
        operation.name, operation.path, first, window, page_size_param="pageSize"
    )
    async for items in follow_pages(client, request, _page_parser(operation, "invoices"), forms):
        records = [invoice_record(i, marketplace, window) for i in items]
        yield records, _ITEM_BYTES * len(records)


async def get_export(client: SpApiCalls, export_id: str) -> dict[str, Any]:
    """The current Export object of one export (getInvoicesExport)."""
    operation = GET_INVOICES_EXPORT
    body = await client.get_json(operation.name, operation.path_for(exportId=export_id), {})
    export = body.get("export")
    if not isinstance(export, Mapping) or not export.get("exportId"):
        raise unexpected_response(operation.name, "no export object")
    return dict(export)


def parse_list_page(body: Mapping[str, Any], list_key: str) -> ParsedPage:
    """Items and nextToken of a getInvoices or getInvoicesExports page.

    No list next to a nextToken is an empty page (the model warns that pages can be empty
    while a nextToken follows); a body with neither key is None (see pager.py).
    """
    if list_key not in body and "nextToken" not in body:
        return None
    items = body.get(list_key) or []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        msg = f"{list_key} is not a list of objects"
        raise TypeError(msg)
    token = body.get("nextToken")
    if token is not None and not isinstance(token, str):
        msg = f"nextToken is {json_type(token)}, not a string"
        raise TypeError(msg)
    return items, token or None


def _page_parser(operation: Operation, list_key: str) -> Callable[[Mapping[str, Any]], ParsedPage]:
    def parse(body: Mapping[str, Any]) -> ParsedPage:
        try:
            return parse_list_page(body, list_key)
        except TypeError as exc:
            raise unexpected_response(
                operation.name, str(exc), request_id=request_id_of(body)
            ) from None

    return parse


class BrazilInvoicesApiStream(WindowedStream):
    """A windowed Invoices API 2024-06-19 stream: NA region, one bookmark per marketplace."""

    default_region = "na"
    # getInvoicesExports and getInvoices refill slowly once their burst is spent (usage plans
    # in spapi/operations.py): windows split for parallelism would only queue. One window
    # covers a week.
    max_window = timedelta(days=7)
    split_for_parallelism = False

    @functools.cached_property
    def follow_up_forms(self) -> FollowUpForms:
        """How this run sends follow-up pages: every argument of the first call first.

        The model's parameter text asks for "the same arguments as the call that produced
        the token"; its static sandbox refuses a nextToken with "any other parameters". The
        pager switches once if Amazon's answer says the arguments are wrong.
        """
        return FollowUpForms()

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        """One bookmark per marketplace."""
        return [{"marketplaceId": self.run.settings.marketplace_id}]
