"""Invoices API 2024-06-19 (Brazil NF-e): invoices, exports, documents and their S3 download.

Every operation needs a valid LWA access token (no RDT) and runs the shared pipeline: faults,
then 403, then the operation's usage-plan bucket (429), then validation (400) and the answer.
List pages scan ``pageSize`` candidates of the date range in order and keep those that pass
the filters, so filtered pages can be short or empty while a nextToken is present; a few pages
(``invoices_empty_page_rate``) also come back empty with a nextToken to the same position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from spapi_emulator import errors
from spapi_emulator.config import (
    CREATE_INVOICES_EXPORT,
    GET_INVOICE,
    GET_INVOICES,
    GET_INVOICES_ATTRIBUTES,
    GET_INVOICES_DOCUMENT,
    GET_INVOICES_EXPORT,
    GET_INVOICES_EXPORTS,
    DocumentBody,
)
from spapi_emulator.invoices import download_route, sandbox
from spapi_emulator.invoices.data import (
    INVOICE_STATUSES,
    INVOICE_TYPES,
    TRANSACTION_IDENTIFIER_NAMES,
    TRANSACTION_TYPES,
)
from spapi_emulator.invoices.exports import INVOICES_API, ExportView
from spapi_emulator.invoices.query import (
    EXPORTS_PARAMETERS,
    INVOICES_PARAMETERS,
    MARKETPLACE_ID,
    NEXT_TOKEN,
    PagePosition,
    empty_page,
    invalid_request,
    missing_parameter,
    not_found,
    page_position,
    parse_export_request,
    parse_exports_query,
    parse_invoices_query,
    require_marketplace,
    single_values,
)
from spapi_emulator.paths import (
    INVOICE_PATH,
    INVOICES_ATTRIBUTES_PATH,
    INVOICES_DOCUMENT_PATH,
    INVOICES_DOCUMENTS_PATH,
    INVOICES_EXPORT_PATH,
    INVOICES_EXPORTS_PATH,
    INVOICES_PATH,
    S3_DOCUMENTS_PATH,
)
from spapi_emulator.pipeline import operation, require_access_token

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from aiohttp import web

    from spapi_emulator.state import EmulatorState

T = TypeVar("T")
# Offset of a nextToken that leads to a last, empty page (static sandbox answers).
_END = 2**31


def _attributes() -> dict[str, object]:
    def options(values: Mapping[str, str]) -> list[dict[str, str]]:
        return [{"description": text, "value": value} for value, text in values.items()]

    return {
        "invoiceStatusOptions": options(INVOICE_STATUSES),
        "invoiceTypeOptions": options(INVOICE_TYPES),
        "transactionIdentifierNameOptions": options(TRANSACTION_IDENTIFIER_NAMES),
        "transactionTypeOptions": options(TRANSACTION_TYPES),
    }


def _static_answer(
    request: web.Request,
    state: EmulatorState,
    name: str,
    resolve: Callable[[dict[str, str]], dict[str, str]] | None = None,
) -> web.Response | None:
    """Answer from a static sandbox example when the request matches one exactly."""
    if any(len(request.query.getall(key)) > 1 for key in request.query):
        return None
    parameters = {**request.match_info, **request.query}
    example = sandbox.find_example(name, parameters)
    if example is None:
        return None
    body = example.body()
    if NEXT_TOKEN in body and resolve is not None:
        sent = dict(request.query)
        position = PagePosition(resolve(sent), _END, sent=sent)
        body[NEXT_TOKEN] = state.family(INVOICES_API).page_tokens.encode(name, position)
    return errors.json_response(body, status=example.status)


def _list_start(
    request: web.Request,
    state: EmulatorState,
    operation: str,
    parameters: Iterable[str],
    resolve: Callable[[dict[str, str]], dict[str, str]],
) -> web.Response | PagePosition:
    """Where a getInvoices / getInvoicesExports request starts, or a static sandbox answer.

    Both list operations page the same way: a static example answers as it is; otherwise the
    nextToken (refused on demand, under the reading in play) or the first call's arguments
    give the position.
    """
    static = _static_answer(request, state, operation, resolve)
    if static is not None:
        return static
    if NEXT_TOKEN in request.query and state.faults.refuse_next_token():
        raise invalid_request(state.config.next_token_refusal_text)
    return page_position(
        request.query,
        operation,
        parameters,
        state.family(INVOICES_API).page_tokens,
        state.config.next_token_ttl,
        follow_up=state.config.invoices_follow_up,
        refusal=state.config.next_token_refusal_text,
    )


@dataclass(frozen=True, slots=True)
class _Pager:
    """Pages of one list operation: a scan over the candidates of the date range."""

    state: EmulatorState
    name: str

    def page(
        self,
        position: PagePosition,
        total: int,
        page_size: int,
        scan: Callable[[int, int], list[T]],
    ) -> tuple[list[T], str | None]:
        """Return one page and its nextToken, if any.

        Args:
            position: Where this page starts; its params are the resolved query (what the
                nextToken carries).
            total: Candidates in the date range.
            page_size: Candidates scanned per page.
            scan: Returns the matching items among candidates [start, stop).

        Returns:
            (items, nextToken or None on the last page).

        """
        config = self.state.config
        tokens = self.state.family(INVOICES_API).page_tokens
        params, offset = position.params, position.offset
        rate = config.invoices_empty_page_rate
        if (
            offset < total
            and not position.emptied
            and empty_page(config.seed, self.name, params, offset, rate)
        ):
            emptied = PagePosition(params, offset, emptied=True, sent=position.sent)
            return [], tokens.encode(self.name, emptied)
        stop = min(total, offset + page_size)
        items = scan(offset, stop) if offset < stop else []
        after = PagePosition(params, stop, sent=position.sent)
        token = tokens.encode(self.name, after) if stop < total else None
        return items, token


def _paged_body(key: str, items: list[dict[str, object]], token: str | None) -> web.Response:
    body: dict[str, object] = {key: items}
    if token is not None:
        body[NEXT_TOKEN] = token
    return errors.json_response(body)


@operation(GET_INVOICES_ATTRIBUTES, authorize=require_access_token)
async def get_invoices_attributes(request: web.Request, state: EmulatorState) -> web.Response:
    """``GET /tax/invoices/2024-06-19/attributes``: the filter vocabularies (getInvoicesAttributes).

    Args:
        request: Query ``marketplaceId`` (required).
        state: The emulator state.

    Returns:
        200 ``{"invoicesAttributes": {...Options: [{"description", "value"}]}}``.

    """
    require_marketplace(request.query.get(MARKETPLACE_ID))
    single_values(request.query, {MARKETPLACE_ID})
    del state  # the vocabulary is static
    return errors.json_response({"invoicesAttributes": _attributes()})


@operation(GET_INVOICES, authorize=require_access_token)
async def get_invoices(request: web.Request, state: EmulatorState) -> web.Response:
    """``GET /tax/invoices/2024-06-19/invoices``: search invoices (getInvoices).

    Args:
        request: marketplaceId, dateStart, dateEnd, filters, sortBy, sortOrder, pageSize; or
            marketplaceId and nextToken only.
        state: The emulator state.

    Returns:
        200 ``{"invoices": [Invoice], "nextToken"?}``.

    """
    now = state.wall_clock()
    start = _list_start(
        request,
        state,
        GET_INVOICES,
        INVOICES_PARAMETERS,
        lambda p: parse_invoices_query(p, now).params,
    )
    if not isinstance(start, PagePosition):
        return start
    api, position = state.family(INVOICES_API), start
    query = parse_invoices_query(position.params, now)
    lo, hi = api.data.span(query.date_start, query.date_end)
    invoices = api.data.invoices

    def scan(start: int, stop: int) -> list[dict[str, object]]:
        if query.descending:
            found = invoices[hi - stop : hi - start][::-1]
        else:
            found = invoices[lo + start : lo + stop]
        return [invoice.to_json() for invoice in found if query.invoice_filter.matches(invoice)]

    start = PagePosition(query.params, position.offset, position.emptied, position.sent)
    items, token = _Pager(state, GET_INVOICES).page(start, hi - lo, query.page_size, scan)
    return _paged_body("invoices", items, token)


@operation(GET_INVOICE, authorize=require_access_token)
async def get_invoice(request: web.Request, state: EmulatorState) -> web.Response:
    """``GET /tax/invoices/2024-06-19/invoices/{invoiceId}``: one invoice (getInvoice).

    Args:
        request: Path ``invoiceId``; query ``marketplaceId`` (required).
        state: The emulator state.

    Returns:
        200 ``{"invoice": Invoice}``.

    Raises:
        ApiError: 400 for missing or invalid parameters, 404 for an unknown invoice.

    """
    invoice_id = request.match_info.get("invoiceId", "")
    if not invoice_id:
        raise missing_parameter("invoiceId", colon=False)
    require_marketplace(request.query.get(MARKETPLACE_ID), colon=False)
    static = _static_answer(request, state, GET_INVOICE)
    if static is not None:
        return static
    single_values(request.query, {MARKETPLACE_ID})
    invoice = state.family(INVOICES_API).invoice(invoice_id)
    if invoice is None:
        raise not_found(f"Invoice '{invoice_id}' was not found.")
    return errors.json_response({"invoice": invoice.to_json()})


@operation(CREATE_INVOICES_EXPORT, authorize=require_access_token)
async def create_invoices_export(request: web.Request, state: EmulatorState) -> web.Response:
    """``POST /tax/invoices/2024-06-19/exports``: start an export (createInvoicesExport).

    Args:
        request: JSON body ``ExportInvoicesRequest`` (``marketplaceId`` required).
        state: The emulator state.

    Returns:
        202 ``{"exportId": ...}``; the export starts REQUESTED.

    """
    export_request = parse_export_request(
        await request.read(), state.wall_clock(), state.config.export_date_form
    )
    if request.query:
        raise invalid_request(f"Unknown parameter: '{next(iter(request.query))}'.")
    export = state.family(INVOICES_API).create_export(export_request)
    return errors.json_response({"exportId": export.export_id}, status=202)


@operation(GET_INVOICES_EXPORTS, authorize=require_access_token)
async def get_invoices_exports(request: web.Request, state: EmulatorState) -> web.Response:
    """``GET /tax/invoices/2024-06-19/exports``: list exports (getInvoicesExports).

    Args:
        request: marketplaceId, dateStart, dateEnd (creation time), status, pageSize; or
            marketplaceId and nextToken only.
        state: The emulator state.

    Returns:
        200 ``{"exports": [Export], "nextToken"?}``, oldest export first.

    """
    now = state.wall_clock()
    start = _list_start(
        request,
        state,
        GET_INVOICES_EXPORTS,
        EXPORTS_PARAMETERS,
        lambda p: parse_exports_query(p, now).params,
    )
    if not isinstance(start, PagePosition):
        return start
    api, position = state.family(INVOICES_API), start
    query = parse_exports_query(position.params, now)
    records = api.export_records(query.date_start, query.date_end)
    clock = state.clock()

    def scan(start: int, stop: int) -> list[dict[str, object]]:
        views = [ExportView.of(record, clock) for record in records[start:stop]]
        return [v.to_json() for v in views if query.status is None or v.status == query.status]

    start = PagePosition(query.params, position.offset, position.emptied, position.sent)
    pager = _Pager(state, GET_INVOICES_EXPORTS)
    items, token = pager.page(start, len(records), query.page_size, scan)
    return _paged_body("exports", items, token)


@operation(GET_INVOICES_EXPORT, authorize=require_access_token)
async def get_invoices_export(request: web.Request, state: EmulatorState) -> web.Response:
    """``GET /tax/invoices/2024-06-19/exports/{exportId}``: one export (getInvoicesExport).

    Args:
        request: Path ``exportId``.
        state: The emulator state.

    Returns:
        200 ``{"export": Export}`` with the status as of now.

    Raises:
        ApiError: 400 without an exportId, 404 for an unknown one.

    """
    export_id = request.match_info.get("exportId", "")
    if not export_id:
        raise missing_parameter("exportId", colon=False)
    static = _static_answer(request, state, GET_INVOICES_EXPORT)
    if static is not None:
        return static
    single_values(request.query, ())
    export = state.family(INVOICES_API).export(export_id)
    if export is None:
        raise not_found(f"Export '{export_id}' was not found.")
    return errors.json_response({"export": export.to_json()})


@operation(GET_INVOICES_DOCUMENT, authorize=require_access_token)
async def get_invoices_document(request: web.Request, state: EmulatorState) -> web.Response:
    """``GET /tax/invoices/2024-06-19/documents/{invoicesDocumentId}`` (getInvoicesDocument).

    Args:
        request: Path ``invoicesDocumentId``.
        state: The emulator state.

    Returns:
        200 ``{"invoicesDocument": {"invoicesDocumentId", "invoicesDocumentUrl"}}``; the URL
        expires ``document_url_ttl`` seconds after this answer.

    Raises:
        ApiError: 400 without an id (the sandbox calls it 'invoiceId'), 404 for an unknown
            document or one whose export is not DONE.

    """
    document_id = request.match_info.get("invoicesDocumentId", "")
    if not document_id:
        raise missing_parameter("invoiceId", colon=False)
    single_values(request.query, ())
    api = state.family(INVOICES_API)
    if not api.document_ready(document_id):
        raise not_found(f"Document '{document_id}' was not found.")
    suffix = ".xml" if state.config.document_body is DocumentBody.XML else ".zip"
    url = api.urls.mint(request.url.origin(), document_id, state.config.document_url_ttl, suffix)
    return errors.json_response(
        {"invoicesDocument": {"invoicesDocumentId": document_id, "invoicesDocumentUrl": url}}
    )


def add_routes(app: web.Application) -> None:
    """Register the Invoices API routes and the document download.

    The trailing-slash variants are the requests without their path parameter (the static
    sandbox's 400 examples).

    Args:
        app: The emulator app.

    """
    get = app.router.add_get
    get(INVOICES_ATTRIBUTES_PATH, get_invoices_attributes, allow_head=False)
    get(INVOICES_PATH, get_invoices, allow_head=False)
    get(INVOICES_PATH + "/", get_invoice, allow_head=False)
    get(INVOICE_PATH, get_invoice, allow_head=False)
    app.router.add_post(INVOICES_EXPORTS_PATH, create_invoices_export)
    get(INVOICES_EXPORTS_PATH, get_invoices_exports, allow_head=False)
    get(INVOICES_EXPORTS_PATH + "/", get_invoices_export, allow_head=False)
    get(INVOICES_EXPORT_PATH, get_invoices_export, allow_head=False)
    get(INVOICES_DOCUMENTS_PATH + "/", get_invoices_document, allow_head=False)
    get(INVOICES_DOCUMENT_PATH, get_invoices_document, allow_head=False)
    get(S3_DOCUMENTS_PATH + "/{name}", download_route.s3_download, allow_head=False)
