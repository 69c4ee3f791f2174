"""The Invoices API model's static sandbox examples (``x-amzn-api-sandbox.static``).

A request whose parameters equal an example's exactly (same names, same values, nothing
more) gets that example's body, as the static sandbox answers it; the routes then swap the
example's ``nextToken`` for a live one that leads to a last, empty page. Examples whose answer
the live logic already gives (the 400s without the sandbox's nextToken, createInvoicesExport's
202, getInvoicesAttributes) are answered live. The example's document is a real document here,
so its pre-signed URL downloads a ZIP with the example invoice.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from spapi_emulator.config import (
    GET_INVOICE,
    GET_INVOICES,
    GET_INVOICES_EXPORT,
    GET_INVOICES_EXPORTS,
)
from spapi_emulator.invoices.data import BRAZIL_MARKETPLACE_ID, TaxInvoice, TransactionId

if TYPE_CHECKING:
    from collections.abc import Mapping

SANDBOX_INVOICE_ID = "ad5b9dcd-6981-4dc4-a3d7-dd2568298a94"
SANDBOX_EXPORT_ID = "4bdd8293-0cd7-4208-bed5-78b2c6ecefef"
SANDBOX_DOCUMENT_ID = "18c598f5-75db-4c1a-bd3e-4c64b36781c5"
SANDBOX_NEXT_TOKEN = "WTtGLzlBkat22iOI5C1yrpSPqMpz9UHYxdvm5U4DqEVJL5hqxv9xMuXe3eg35i17"  # noqa: S105
_TRANSACTION_ID = "94cd4e1a-5cc5-486d-b592-045a95a168e1"

# The invoice of the getInvoices examples (getInvoice's example differs in its two types).
SANDBOX_INVOICE = TaxInvoice(
    id=SANDBOX_INVOICE_ID,
    date=datetime(2024, 7, 10, 15, 0, tzinfo=UTC),
    error_code="",
    external_invoice_id="1283743",
    gov_response="",
    invoice_type="SYMBOLIC_RETURN",
    series="32",
    status="AUTHORIZED",
    transaction_ids=(TransactionId("BUSINESS_TRANSACTION_ID", _TRANSACTION_ID),),
    transaction_type="CUSTOMER_SALES",
)
_EXPORT: dict[str, object] = {
    "errorMessage": "",
    "exportId": SANDBOX_EXPORT_ID,
    "generateExportFinishedAt": "2024-07-10T16:00:00.000Z",
    "generateExportStartedAt": "2024-07-10T15:00:00.000Z",
    "invoicesDocumentIds": [SANDBOX_DOCUMENT_ID],
    "status": "DONE",
}
_INVOICES_PAGE: dict[str, object] = {
    "invoices": [SANDBOX_INVOICE.to_json()],
    "nextToken": SANDBOX_NEXT_TOKEN,
}


_NEXT_TOKEN_ALONE_ERROR: dict[str, object] = {
    "errors": [
        {
            "code": "400",
            "message": "Invalid Request.",
            "details": "Specifying nextToken with any other parameters will cause the request "
            "to fail.",
        }
    ]
}


@dataclass(frozen=True, slots=True)
class StaticExample:
    """One static sandbox example (a 2xx, or a 400 carrying the sandbox's nextToken).

    Attributes:
        operation: The operationId.
        parameters: Every request parameter (path and query) as text.
        response: The example's response body.
        status: The example's HTTP status.

    """

    operation: str
    parameters: Mapping[str, str]
    response: Mapping[str, object]
    status: int = 200

    def body(self) -> dict[str, object]:
        """Return a fresh copy of the response body."""
        return copy.deepcopy(dict(self.response))


STATIC_EXAMPLES: tuple[StaticExample, ...] = (
    StaticExample(
        GET_INVOICES,
        {
            "dateEnd": "2024-07-20T23:59:59",
            "dateStart": "2024-07-01T00:00:00",
            "invoiceType": "SYMBOLIC_RETURN",
            "marketplaceId": BRAZIL_MARKETPLACE_ID,
            "pageSize": "1",
            "sortBy": "START_DATE_TIME",
            "sortOrder": "DESC",
            "transactionIdentifierId": _TRANSACTION_ID,
            "transactionIdentifierName": "BUSINESS_TRANSACTION_ID",
            "transactionType": "CUSTOMER_SALES",
        },
        _INVOICES_PAGE,
    ),
    StaticExample(
        GET_INVOICES,
        {"externalInvoiceId": "1283743", "marketplaceId": BRAZIL_MARKETPLACE_ID, "series": "32"},
        _INVOICES_PAGE,
    ),
    StaticExample(
        GET_INVOICE,
        {"invoiceId": SANDBOX_INVOICE_ID, "marketplaceId": BRAZIL_MARKETPLACE_ID},
        {
            "invoice": {
                **SANDBOX_INVOICE.to_json(),
                "invoiceType": "CUSTOMER_SALES",
                "transactionType": "CUSTOMER_SALES_SYMBOLIC",
            }
        },
    ),
    StaticExample(
        GET_INVOICES_EXPORTS,
        {
            "dateEnd": "2024-07-10T23:59:59.000Z",
            "dateStart": "2024-07-10T00:00:00.000Z",
            "marketplaceId": BRAZIL_MARKETPLACE_ID,
            "pageSize": "1",
            "status": "DONE",
        },
        {"exports": [_EXPORT], "nextToken": SANDBOX_NEXT_TOKEN},
    ),
    StaticExample(GET_INVOICES_EXPORT, {"exportId": SANDBOX_EXPORT_ID}, {"export": _EXPORT}),
    # The two 400 examples that carry the sandbox's own nextToken: answered verbatim whatever
    # follow-up reading the emulator plays, since only the static sandbox hands out that token.
    StaticExample(
        GET_INVOICES,
        {
            "marketplaceId": BRAZIL_MARKETPLACE_ID,
            "nextToken": SANDBOX_NEXT_TOKEN,
            "statuses": "REJECTED",
        },
        _NEXT_TOKEN_ALONE_ERROR,
        400,
    ),
    StaticExample(
        GET_INVOICES_EXPORTS,
        {"marketplaceId": BRAZIL_MARKETPLACE_ID, "nextToken": SANDBOX_NEXT_TOKEN, "status": "DONE"},
        _NEXT_TOKEN_ALONE_ERROR,
        400,
    ),
)


def find_example(operation: str, parameters: Mapping[str, str]) -> StaticExample | None:
    """Return the static example whose parameters equal these exactly, if any.

    Args:
        operation: The operationId.
        parameters: The request's path and query parameters (each given once).

    Returns:
        The example, or None.

    """
    for example in STATIC_EXAMPLES:
        if example.operation == operation and dict(example.parameters) == dict(parameters):
            return example
    return None
