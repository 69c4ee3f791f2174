"""getCustomerInvoices (Vendor Direct Fulfillment Shipping): requests, pages and records.

Every invoice is checked against the model's shape before it becomes a record: content and
purchaseOrderNumber are strings, the number is the letters and digits the model's pattern
allows, and the record fits max_record_mb. An invoice without a purchaseOrderNumber (null,
absent or empty) is written under a key made from its content, with a WARNING
(``substitute_key``); any other shape stops the run with one line naming the window.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final

from typing_extensions import override

from tap_spinvoices.errors import RecordTooLargeError, unexpected_response
from tap_spinvoices.spapi import operations
from tap_spinvoices.spapi.client import request_id_of
from tap_spinvoices.spapi.paging import FollowUpForms
from tap_spinvoices.spapi.responses import json_type
from tap_spinvoices.streams import customer_invoice_files
from tap_spinvoices.streams.archive_selection import ArchiveSelection
from tap_spinvoices.streams.pager import PageBounds, ParsedPage, WindowRequest, follow_pages
from tap_spinvoices.streams.schemas import load_schema
from tap_spinvoices.sync.bookmarks import format_instant
from tap_spinvoices.sync.windowed_stream import WindowedStream
from tap_spinvoices.sync.windows import Window, api_timestamp

if TYPE_CHECKING:
    from collections.abc import Callable

    from singer_sdk.helpers.types import Context

    from tap_spinvoices.spapi.client import SpApiClient
    from tap_spinvoices.spapi.session import ApiConnection
    from tap_spinvoices.streams.pager import PageClient
    from tap_spinvoices.sync.windowed_stream import PreparePage

OPERATION: Final = operations.CUSTOMER_INVOICES_OPERATION_ID
PAGE_LIMIT: Final = 100  # getCustomerInvoices: limit maximum 100
# Fields computed from the decoded PDF: 4 us an invoice, so only when selected.
DIGEST_FIELDS: Final = frozenset({"content_sha256", "content_bytes"})
# With the archive on, always written: where the PDF is, and what it is.
ARCHIVE_FIELDS: Final = frozenset({customer_invoice_files.ARCHIVE_URI, *DIGEST_FIELDS})
# Rough per-record overhead beyond the content, for the read-ahead memory budget.
_RECORD_OVERHEAD_BYTES: Final = 400
# The key of an invoice Amazon sent without a purchaseOrderNumber: this prefix and the first
# 32 hex digits of the SHA-256 of its content. Letters and digits only, as the model's
# pattern (^[a-zA-Z0-9]+$) asks, so the record still matches the stream's schema; the same
# invoice gets the same key on every run, and no real number has this shape.
MISSING_PO_PREFIX: Final = "MISSINGPO"
_SUBSTITUTE_HEX_DIGITS: Final = 32
PO_FIELD: Final = "purchaseOrderNumber"
# The bounds of a page when the stream passes none: the settings' defaults.
DEFAULT_BOUNDS: Final = PageBounds(page_bytes=8 << 20, item_bytes=16 << 20)
_STOPS: Final = (
    "The run stops after the STATE of the completed windows; report the x-amzn-RequestId "
    "to Amazon: until its answer changes, each run stops at window {where}"
)

logger = logging.getLogger(__name__)

# How far back Amazon keeps customer invoices. The "Get a customer invoice" guide
# (https://developer-docs.amazon.com/sp-api/docs/get-customer-invoice): "any customer invoice
# (in the time range of seven days from a rolling window of the last six months, after the
# vendor went live on the API)". The models in tests/spapi_models/ say nothing about it; see
# docs/quirks.md for what the tap assumes and why it only warns.
INVOICE_HISTORY_MONTHS: Final = 6


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the month's last day if short).

    >>> months_before(datetime(2024, 8, 31, 12, tzinfo=UTC), 6).isoformat()
    '2024-02-29T12:00:00+00:00'
    """
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last_day))


def history_warning(start: datetime, now: datetime) -> str | None:
    """The warning for a sync range starting before Amazon's rolling six months, else None.

    Not an error: Amazon's words concern getCustomerInvoice and may be loose; older windows
    are still asked for and simply come back empty if Amazon no longer has them.
    """
    edge = months_before(now, INVOICE_HISTORY_MONTHS)
    if start >= edge:
        return None
    return (
        f"customer_invoices: the sync range starts at {format_instant(start)}, more than "
        f"{INVOICE_HISTORY_MONTHS} months before now. Windows before {format_instant(edge)} "
        "may come back empty: Amazon documents customer invoices as available for a rolling "
        "window of the last six months (SP-API guide 'Get a customer invoice'). Syncing on"
    )


def window_params(window: Window, party: str | None) -> dict[str, str | int]:
    """Query of a window's first page; later pages repeat it and add nextToken."""
    params: dict[str, str | int] = {
        # Both bounds are required; the range may not exceed 7 days (windows.py keeps it so).
        "createdAfter": api_timestamp(window.created_after),
        "createdBefore": api_timestamp(window.created_before),
        "limit": PAGE_LIMIT,
        "sortOrder": "ASC",
    }
    if party is not None:
        params["shipFromPartyId"] = party
    return params


def parse_page(body: Mapping[str, Any]) -> ParsedPage:
    """Invoices and nextToken of one response; v1 wraps them in ``payload``.

    An empty list, or no list next to a pagination object, is an empty page. A body with
    neither key (nor a ``payload`` holding one) is None: DF v1 getPackingSlip answered 200
    ``{}`` for every order for a long time (amzn/selling-partner-api-docs#200), so such a body
    is never read as "no invoices" in silence (see pager.py).
    """
    # The v1 model wraps the list in "payload"; its own guide prints it bare: accept both.
    inner = body.get("payload", body)
    if not isinstance(inner, Mapping):
        msg = "response has no invoice list"
        raise TypeError(msg)
    if "customerInvoices" not in inner and "pagination" not in inner:
        return None
    invoices = inner.get("customerInvoices") or []
    pagination = inner.get("pagination") or {}
    if not isinstance(invoices, list) or not all(isinstance(i, Mapping) for i in invoices):
        msg = "customerInvoices is not a list of objects"
        raise TypeError(msg)
    if not isinstance(pagination, Mapping):
        msg = f"pagination is {json_type(pagination)}, not an object"
        raise TypeError(msg)
    token = pagination.get("nextToken")
    if token is not None and not isinstance(token, str):
        msg = f"pagination.nextToken is {json_type(token)}, not a string"
        raise TypeError(msg)
    return invoices, token or None


def substitute_key(content: str) -> str:
    """The key of an invoice without a purchaseOrderNumber: one per content, stable."""
    digest = hashlib.sha256(content.encode()).hexdigest()
    return MISSING_PO_PREFIX + digest[:_SUBSTITUTE_HEX_DIGITS]


def invoice_key(invoice: Mapping[str, Any]) -> str | None:
    """The invoice's purchaseOrderNumber; None when it has none (null, absent or empty).

    Raises:
        TypeError: The number is not a string, or not the letters and digits of the model's
            pattern; or content is not a string. The tap does not guess a key then.

    """
    content = invoice.get("content")
    if not isinstance(content, str):
        shape = json_type(content) if "content" in invoice else "absent"
        msg = f"content is {shape}, not a string"
        raise TypeError(msg)
    number = invoice.get(PO_FIELD)
    if number is None or number == "":
        return None
    if not isinstance(number, str):
        msg = f"purchaseOrderNumber is {json_type(number)}, not a string"
        raise TypeError(msg)
    if not (number.isascii() and number.isalnum()):
        allowed = "the letters and digits the model allows"
        msg = f"purchaseOrderNumber {number[:40]!r} is more than {allowed}"
        raise TypeError(msg)
    return number


def window_fields(window: Window, party: str | None, api_version: str) -> dict[str, Any]:
    """The fields every record of a window shares: what an auditor of the load needs."""
    return {
        "window_start": format_instant(window.start),
        "window_end": format_instant(window.end),
        "ship_from_party_id": party,
        "api_version": api_version,
    }


def build_record(
    invoice: Mapping[str, Any],
    shared: Mapping[str, Any],
    digests: frozenset[str] = DIGEST_FIELDS,
) -> dict[str, Any]:
    """A JSON-ready record: the invoice as returned, the ``digests`` asked for, ``shared``.

    ``digests`` names the fields of DIGEST_FIELDS to fill; the PDF is decoded only for them.
    An invoice without a purchaseOrderNumber gets ``substitute_key`` of its content.

    Raises:
        TypeError: The invoice does not have the model's shape (``invoice_key``).

    """
    number = invoice_key(invoice)
    content = invoice["content"]
    record = {PO_FIELD: substitute_key(content) if number is None else number, "content": content}
    if digests:
        digest, size = customer_invoice_files.pdf_digest(content)
        if "content_sha256" in digests:
            record["content_sha256"] = digest
        if "content_bytes" in digests:
            record["content_bytes"] = size
    record.update(shared)
    return record


async def window_pages(  # noqa: PLR0913 - the window, whose it is, and what records carry
    client: PageClient,
    window: Window,
    *,
    party: str | None,
    api_version: str,
    digests: frozenset[str] = DIGEST_FIELDS,
    bounds: PageBounds = DEFAULT_BOUNDS,
) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
    """Every page of one window as (records, approximate bytes), following nextToken.

    A page longer than ``bounds`` allows is asked for again with fewer invoices (the pager);
    an invoice longer than ``bounds.item_bytes`` stops the run naming max_record_mb.
    """
    operation = operations.customer_invoices(api_version)
    # The RDT is minted for exactly this path.
    request = WindowRequest(
        operation.name,
        operation.path,
        window_params(window, party),
        window,
        restricted=operation.restricted,
        page_size_param="limit",
        bounds=bounds,
        noun="invoice",
    )
    shared = window_fields(window, party, api_version)
    # The model leaves no doubt here: nextToken goes with every argument of the first call
    # (createdAfter and createdBefore are required), so the form never changes.
    forms = FollowUpForms(switchable=False)
    answer = _LastAnswer()
    async for invoices in follow_pages(client, request, answer.parser(request), forms):
        records = _records(invoices, shared, digests, request, answer.request_id)
        yield (
            records,
            sum(len(r["content"]) for r in records) + _RECORD_OVERHEAD_BYTES * len(records),
        )


def _records(
    invoices: list[dict[str, Any]],
    shared: Mapping[str, Any],
    digests: frozenset[str],
    request: WindowRequest,
    request_id: str | None,
) -> list[dict[str, Any]]:
    """The page's records, each checked; one line for any invoice that cannot be one."""
    item_bytes = request.bounds.item_bytes if request.bounds else DEFAULT_BOUNDS.item_bytes
    try:
        records = [build_record(i, shared, digests) for i in invoices]
    except TypeError as exc:
        hint = _STOPS.format(where=request.where)
        raise unexpected_response(OPERATION, str(exc), request_id=request_id, hint=hint) from None
    for invoice, record in zip(invoices, records, strict=True):
        if len(record["content"]) > item_bytes:
            raise RecordTooLargeError(
                what=f"invoice {record[PO_FIELD]} of window {request.where}",
                size=len(record["content"]),
                limit=item_bytes,
                request_id=request_id,
            )
        if record[PO_FIELD] is not invoice.get(PO_FIELD):  # the same str unless substituted
            logger.warning(
                "%s answered an invoice without a purchaseOrderNumber (%s) in window %s "
                "(x-amzn-RequestId %s): written with purchaseOrderNumber %s, a key made from "
                "its content (docs/quirks.md, Limits)",
                OPERATION,
                json_type(invoice.get(PO_FIELD)) if PO_FIELD in invoice else "absent",
                request.where,
                request_id or "-",
                record[PO_FIELD],
            )
    return records


class _LastAnswer:
    """The x-amzn-RequestId of the page last parsed, for the lines about its invoices."""

    request_id: str | None = None

    def parser(self, request: WindowRequest) -> Callable[[Mapping[str, Any]], ParsedPage]:
        """``parse_page``, noting the request id, with one line for a body of the wrong shape."""

        def parse(body: Mapping[str, Any]) -> ParsedPage:
            self.request_id = request_id_of(body)
            try:
                return parse_page(body)
            except TypeError as exc:
                hint = _STOPS.format(where=request.where)
                raise unexpected_response(
                    OPERATION, str(exc), request_id=self.request_id, hint=hint
                ) from None

        return parse


class CustomerInvoicesStream(ArchiveSelection, WindowedStream):
    """Customer invoices (Base64 PDF) of Direct Fulfillment purchase orders (India, EU).

    SP-API getCustomerInvoices, one request chain per window of at most 7 days, with an RDT.
    """

    name = "customer_invoices"
    primary_keys: ClassVar[list[str]] = ["purchaseOrderNumber"]
    schema = load_schema("customer_invoices")
    default_region = "eu"
    operation = OPERATION

    # The archive's defaults (archive_selection.py). No archive: the PDF digests are not
    # selected by default either: they decode every PDF, 4 us an invoice, as much as the
    # rest of the tap's work.
    archive_fields = ARCHIVE_FIELDS
    unselected_without_archive = ARCHIVE_FIELDS
    document_fields = frozenset({customer_invoice_files.CONTENT})

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        """One partition (and bookmark) per configured ship-from party; none: all parties."""
        parties = self.run.settings.ship_from_party_ids  # each party once
        return [{"ship_from_party_id": party} for party in parties] or None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The records of a partition; with the archive, a line of what it stored so far."""
        yield from super().get_records(context)
        self.log_archived("PDFs")

    @property
    @override
    def read_ahead_bytes(self) -> int:
        """buffer_mb, less what the archive's uploads may hold (one memory budget for both).

        At least a quarter of buffer_mb stays for reading ahead.
        """
        buffer = self.run.settings.buffer_bytes
        archive = self.run.archive
        if archive is None:
            return buffer
        return max(buffer // 4, buffer - archive.config.bytes_in_flight)

    @property
    @override
    def windows_within_utc_days(self) -> bool:
        """With the archive: each window within one UTC day, the day in the PDFs' names."""
        return self.run.archive is not None

    @override
    def prepare_page(self, connection: ApiConnection) -> PreparePage | None:
        """With the archive: store each page's PDFs before the page may be written."""
        del connection
        archive = self.run.archive
        if archive is None:
            return None
        return functools.partial(
            customer_invoice_files.archive_page,
            archive.uploads(),
            keep_content=self.keeps(customer_invoice_files.CONTENT),
            logger=self.logger,
        )

    _history_warned = False

    @override
    def check_range(self, start: datetime, end: datetime) -> None:
        """Warn once per run when the range starts before Amazon's six months of invoices."""
        del end
        line = history_warning(start, datetime.now(UTC))
        if line is not None and not self._history_warned:
            self._history_warned = True  # once, however many partitions start that early
            self.logger.warning(line)

    @override
    def window_pages(
        self, client: SpApiClient, window: Window, context: Context | None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
        """Pages of getCustomerInvoices for one window and party."""
        party = (context or {}).get("ship_from_party_id")
        settings = self.run.settings
        # With the archive, the digests come from the archived bytes (prepare_page).
        digests = frozenset(f for f in DIGEST_FIELDS if self.keeps(f) and self.run.archive is None)
        return window_pages(
            client,
            window,
            party=party,
            api_version=settings.df_api_version,
            digests=digests,
            # A page at most a quarter of the read-ahead budget: as ordered_fetch assumes of
            # a page before it has seen one, so four windows fill the budget.
            bounds=PageBounds(self.read_ahead_bytes // 4, settings.max_record_bytes),
        )
