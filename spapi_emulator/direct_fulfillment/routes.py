"""Vendor Direct Fulfillment Shipping getCustomerInvoices, v1 and 2021-12-28.

Both versions take the same query parameters and return the same ``CustomerInvoiceList``;
v1 wraps it in ``{"payload": ...}`` as its model (not its use-case guide) says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import orjson

from spapi_emulator import errors, hostile
from spapi_emulator.config import GET_CUSTOMER_INVOICES, HostileValue
from spapi_emulator.direct_fulfillment.dataset import DIRECT_FULFILLMENT
from spapi_emulator.isotime import parse_iso8601
from spapi_emulator.paging import fingerprint
from spapi_emulator.paths import CUSTOMER_INVOICES_PATHS, DF_V1
from spapi_emulator.pipeline import operation, require_restricted_token

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp import web
    from multidict import MultiMapping

    from spapi_emulator.state import EmulatorState

# "The date range to search must be no more than 7 days." (getCustomerInvoices description)
MAX_RANGE = timedelta(days=7)
# limit: minimum 1, maximum 100 in the model. The model gives no default; 50 is our choice.
MIN_LIMIT, MAX_LIMIT, DEFAULT_LIMIT = 1, 100, 50
SORT_ORDERS = ("ASC", "DESC")
# Every query parameter the model declares; anything else is refused. This strictness is our
# choice: the public reports of "Invalid content was found starting with element
# 'marketplaceIds'" concern POST bodies (saleweaver/python-amazon-sp-api#270, #1109), not
# this query.
QUERY_PARAMETERS = frozenset(
    {"shipFromPartyId", "limit", "createdAfter", "createdBefore", "sortOrder", "nextToken"}
)
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class CustomerInvoicesQuery:
    """A validated getCustomerInvoices request.

    Attributes:
        created_after: Lower bound (exclusive unless the emulator is set inclusive).
        created_before: Upper bound (exclusive unless the emulator is set inclusive).
        ship_from_party_id: Only this warehouse; None: all.
        limit: Page size.
        descending: sortOrder=DESC.
        offset: Results already returned on earlier pages (from nextToken).
        params_fingerprint: Digest of every parameter but nextToken, binding the nextTokens.

    """

    created_after: datetime
    created_before: datetime
    ship_from_party_id: str | None
    limit: int
    descending: bool
    offset: int
    params_fingerprint: bytes


def _required_time(query: MultiMapping[str], name: str) -> datetime:
    raw = query.get(name)
    if raw is None or raw == "":
        raise errors.invalid_input(f"Missing required parameter: {name}.")
    moment = parse_iso8601(raw)
    if moment is None:
        raise errors.invalid_input(
            f"Invalid {name}: '{raw}'. The timestamp must follow ISO 8601, "
            "for example 2024-01-01T00:00:00.000Z."
        )
    return moment


def _limit(query: MultiMapping[str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if _DIGITS.fullmatch(raw) is None or not MIN_LIMIT <= int(raw) <= MAX_LIMIT:
        raise errors.invalid_input(
            f"Invalid limit: '{raw}'. It must be an integer from {MIN_LIMIT} to {MAX_LIMIT}."
        )
    return int(raw)


def _sort_order(query: MultiMapping[str]) -> str:
    raw = query.get("sortOrder", "ASC")
    if raw not in SORT_ORDERS:
        raise errors.invalid_input(f"Invalid sortOrder: '{raw}'. It must be ASC or DESC.")
    return raw


def _check_parameter_names(query: MultiMapping[str]) -> None:
    for name in query:
        if name not in QUERY_PARAMETERS:
            # Wording of the real service's XML-schema validation error.
            raise errors.invalid_input(
                f"Invalid content was found starting with element '{name}'. "
                "No child element is expected at this point."
            )
        if len(query.getall(name)) > 1:
            raise errors.invalid_input(f"Parameter {name} must not be repeated.")


def parse_query(query: MultiMapping[str], state: EmulatorState) -> CustomerInvoicesQuery:
    """Validate a getCustomerInvoices query in the real service's order.

    Order: createdAfter and createdBefore (present, ISO 8601); createdBefore not after now;
    createdAfter before createdBefore; at most 7 days; limit; sortOrder; unknown parameters;
    nextToken.

    Args:
        query: The request's query parameters.
        state: The emulator state.

    Returns:
        The validated query.

    Raises:
        ApiError: 400 InvalidInput with the first problem found.

    """
    created_after = _required_time(query, "createdAfter")
    created_before = _required_time(query, "createdBefore")
    if created_before > state.wall_clock():
        raise errors.invalid_input("Invalid createdBefore: it must not be later than now.")
    if created_after >= created_before:
        raise errors.invalid_input("Invalid date range: createdAfter must be before createdBefore.")
    if created_before - created_after > MAX_RANGE:
        raise errors.invalid_input(errors.SEVEN_DAY_RANGE)
    limit = _limit(query)
    descending = _sort_order(query) == "DESC"
    _check_parameter_names(query)
    params_fingerprint = fingerprint((k, v) for k, v in query.items() if k != "nextToken")
    offset = 0
    next_token = query.get("nextToken")
    if next_token is not None:
        decoded = state.next_tokens.decode_offset(
            next_token, params_fingerprint, state.config.next_token_ttl
        )
        if decoded is None or state.faults.refuse_next_token():
            raise errors.invalid_input(state.config.next_token_refusal_text)
        offset = decoded
    return CustomerInvoicesQuery(
        created_after=created_after,
        created_before=created_before,
        ship_from_party_id=query.get("shipFromPartyId"),
        limit=limit,
        descending=descending,
        offset=offset,
        params_fingerprint=params_fingerprint,
    )


def customer_invoice_list(query: CustomerInvoicesQuery, state: EmulatorState) -> dict[str, object]:
    """Return one page as a ``CustomerInvoiceList`` (2021-12-28 shape).

    Args:
        query: The validated query.
        state: The emulator state.

    Returns:
        ``{"pagination": {"nextToken"}, "customerInvoices": [...]}``; ``pagination`` is left
        out on the last page.

    """
    created_after = query.created_after
    history_days = state.config.customer_invoice_history_days
    if history_days is not None:  # older invoices are gone: their windows come back empty
        created_after = max(created_after, state.wall_clock() - timedelta(days=history_days))
    window = state.family(DIRECT_FULFILLMENT).window(
        created_after,
        query.created_before,
        party=query.ship_from_party_id,
        inclusive=state.config.inclusive_bounds,
    )
    page = window.page(query.offset, query.limit, descending=query.descending)
    config = state.config
    invoices: list[dict[str, object]] = [
        {
            "purchaseOrderNumber": invoice.purchase_order_number,
            "content": state.family(DIRECT_FULFILLMENT).content(invoice.purchase_order_number),
        }
        for invoice in page
    ]
    if config.hostile_value is not HostileValue.NONE:
        invoices = [
            hostile.hostile_invoice(invoice, config.hostile_value)
            if hostile.is_chosen(entry.purchase_order_number, config.hostile_value_every)
            else invoice
            for entry, invoice in zip(page, invoices, strict=True)
        ]
    body: dict[str, object] = {}
    next_offset = query.offset + len(page)
    if next_offset < len(window) or config.endless_next_tokens:
        token = state.next_tokens.encode_offset(
            next_offset, query.params_fingerprint, pad_to=config.next_token_bytes
        )
        body["pagination"] = {"nextToken": hostile.hostile_pagination(token, config.hostile_value)}
    body["customerInvoices"] = invoices
    return body


# The v1 model's catch-all static sandbox example (request parameters {}): the same invoice
# and the same nextToken whatever is asked (vendorDirectFulfillmentShippingV1.json).
STATIC_SANDBOX_ANSWER: dict[str, object] = {
    "payload": {
        "pagination": {"nextToken": "MDAwMDAwMDAwMQ=="},
        "customerInvoices": [
            {
                "purchaseOrderNumber": "mockpurchaseOrderNumber",
                "content": "base 64 content goes here",
            }
        ],
    }
}


def _handler(version: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    @operation(GET_CUSTOMER_INVOICES, authorize=require_restricted_token)
    async def get_customer_invoices(request: web.Request, state: EmulatorState) -> web.Response:
        if version == DF_V1 and state.config.df_static_sandbox:
            return errors.json_response(STATIC_SANDBOX_ANSWER)
        query = parse_query(request.query, state)
        if state.faults.shapeless():
            return errors.json_response({})
        body = customer_invoice_list(query, state)
        answer = {"payload": body} if version == DF_V1 else body
        if state.config.chunked_answers:
            return hostile.chunked_json(orjson.dumps(answer))
        return errors.json_response(answer)

    return get_customer_invoices


def add_routes(app: web.Application) -> None:
    """Register getCustomerInvoices for both DF Shipping versions.

    Args:
        app: The emulator app.

    """
    for version, path in CUSTOMER_INVOICES_PATHS.items():
        app.router.add_get(path, _handler(version), allow_head=False)
