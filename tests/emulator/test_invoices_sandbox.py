"""Replay of the Invoices API model's static sandbox examples against the emulator.

Each example of ``x-amzn-api-sandbox.static`` in the vendored model
(tests/spapi_models/InvoicesApiModel_2024-06-19.json) is sent as a request; 400 answers must
equal the example's body exactly, 2xx answers must have its status and shape (ids, tokens and
URLs may differ). The examples are copied here verbatim; a test checks the copy against the
model.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .test_invoices_documents import fetch_zip
from .test_invoices_support import BR, Client, start

if TYPE_CHECKING:
    from collections.abc import Iterator

    from spapi_emulator import EmulatorServer

    from .conftest import FakeClock, Reply

MODEL = Path(__file__).resolve().parents[1] / "spapi_models" / "InvoicesApiModel_2024-06-19.json"
INVOICE_ID = "ad5b9dcd-6981-4dc4-a3d7-dd2568298a94"
EXPORT_ID = "4bdd8293-0cd7-4208-bed5-78b2c6ecefef"
DOCUMENT_ID = "18c598f5-75db-4c1a-bd3e-4c64b36781c5"
TRANSACTION_ID = "94cd4e1a-5cc5-486d-b592-045a95a168e1"
TOKEN = "WTtGLzlBkat22iOI5C1yrpSPqMpz9UHYxdvm5U4DqEVJL5hqxv9xMuXe3eg35i17"  # noqa: S105
NEXT_TOKEN_ALONE = "Specifying nextToken with any other parameters will cause the request to fail."  # noqa: S105
SANDBOX_INVOICE = {
    "date": "2024-07-10T15:00:00.000Z",
    "errorCode": "",
    "externalInvoiceId": "1283743",
    "govResponse": "",
    "id": INVOICE_ID,
    "invoiceType": "SYMBOLIC_RETURN",
    "series": "32",
    "status": "AUTHORIZED",
    "transactionIds": [{"name": "BUSINESS_TRANSACTION_ID", "id": TRANSACTION_ID}],
    "transactionType": "CUSTOMER_SALES",
}
EXPORT = {
    "errorMessage": "",
    "exportId": EXPORT_ID,
    "generateExportFinishedAt": "2024-07-10T16:00:00.000Z",
    "generateExportStartedAt": "2024-07-10T15:00:00.000Z",
    "invoicesDocumentIds": [DOCUMENT_ID],
    "status": "DONE",
}


def _error(details: str, message: str = "Invalid Request.") -> dict[str, Any]:
    return {"errors": [{"code": "400", "details": details, "message": message}]}


# (operationId, method, path template, parameters, status, response), as in the model.
EXAMPLES: list[tuple[str, str, str, dict[str, Any], int, dict[str, Any]]] = [
    (
        "getInvoicesAttributes",
        "GET",
        "/attributes",
        {"marketplaceId": BR},
        200,
        {
            "invoicesAttributes": {
                "invoiceStatusOptions": [
                    {
                        "description": "The government authorized the invoice.",
                        "value": "AUTHORIZED",
                    },
                    {"description": "The government rejected the invoice.", "value": "REJECTED"},
                    {"description": "The invoice is canceled.", "value": "CANCELED"},
                ],
                "invoiceTypeOptions": [],
                "transactionIdentifierNameOptions": [],
                "transactionTypeOptions": [],
            }
        },
    ),
    (
        "getInvoicesAttributes",
        "GET",
        "/attributes",
        {},
        400,
        _error("Missing required parameter: 'marketplaceId'"),
    ),
    (
        "getInvoicesDocument",
        "GET",
        "/documents/{invoicesDocumentId}",
        {"invoicesDocumentId": DOCUMENT_ID},
        200,
        {
            "invoicesDocument": {
                "invoicesDocumentId": DOCUMENT_ID,
                "invoicesDocumentUrl": (
                    f"https://invoicesdocumentbucket.s3.eu-east-1.amazonaws.com/{DOCUMENT_ID}.xml"
                    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=<CREDENTIAL>"
                    "&X-Amz-Date=20240710T171315Z&X-Amz-Expires=300&X-Amz-Signature=<SIGNATURE>"
                    "&X-Amz-SignedHeaders=host"
                ),
            }
        },
    ),
    (
        "getInvoicesDocument",
        "GET",
        "/documents/{invoicesDocumentId}",
        {},
        400,
        _error("Missing required parameter 'invoiceId'"),
    ),
    (
        "createInvoicesExport",
        "POST",
        "/exports",
        {
            "body": {
                "dateEnd": "2024-07-30T23:59:59",
                "dateStart": "2024-07-01T00:00:00",
                "externalInvoiceId": "1283743",
                "fileFormat": "XML",
                "invoiceType": "SYMBOLIC_RETURN",
                "marketplaceId": BR,
                "series": "32",
                "statuses": ["AUTHORIZED"],
                "transactionIdentifier": {"name": "BUSINESS_TRANSACTION_ID", "id": TRANSACTION_ID},
                "transactionType": "CUSTOMER_SALES",
            }
        },
        202,
        {"exportId": EXPORT_ID},
    ),
    (
        "createInvoicesExport",
        "POST",
        "/exports",
        {},
        400,
        _error(
            "Missing required attribute(s): 'marketplaceId'.",
            "Request has missing or invalid parameters and cannot be parsed.",
        ),
    ),
    (
        "getInvoicesExports",
        "GET",
        "/exports",
        {
            "dateEnd": "2024-07-10T23:59:59.000Z",
            "dateStart": "2024-07-10T00:00:00.000Z",
            "marketplaceId": BR,
            "pageSize": 1,
            "status": "DONE",
        },
        200,
        {"exports": [EXPORT], "nextToken": TOKEN},
    ),
    (
        "getInvoicesExports",
        "GET",
        "/exports",
        {"marketplaceId": BR, "nextToken": TOKEN, "status": "DONE"},
        400,
        _error(NEXT_TOKEN_ALONE),
    ),
    (
        "getInvoicesExport",
        "GET",
        "/exports/{exportId}",
        {"exportId": EXPORT_ID},
        200,
        {"export": EXPORT},
    ),
    (
        "getInvoicesExport",
        "GET",
        "/exports/{exportId}",
        {},
        400,
        _error("Missing required parameter 'exportId'"),
    ),
    (
        "getInvoices",
        "GET",
        "/invoices",
        {
            "dateEnd": "2024-07-20T23:59:59",
            "dateStart": "2024-07-01T00:00:00",
            "invoiceType": "SYMBOLIC_RETURN",
            "marketplaceId": BR,
            "pageSize": 1,
            "sortBy": "START_DATE_TIME",
            "sortOrder": "DESC",
            "transactionIdentifierId": TRANSACTION_ID,
            "transactionIdentifierName": "BUSINESS_TRANSACTION_ID",
            "transactionType": "CUSTOMER_SALES",
        },
        200,
        {"invoices": [SANDBOX_INVOICE], "nextToken": TOKEN},
    ),
    (
        "getInvoices",
        "GET",
        "/invoices",
        {"externalInvoiceId": "1283743", "marketplaceId": BR, "series": "32"},
        200,
        {"invoices": [SANDBOX_INVOICE], "nextToken": TOKEN},
    ),
    (
        "getInvoices",
        "GET",
        "/invoices",
        {"marketplaceId": BR, "nextToken": TOKEN, "statuses": ["REJECTED"]},
        400,
        _error(NEXT_TOKEN_ALONE),
    ),
    (
        "getInvoice",
        "GET",
        "/invoices/{invoiceId}",
        {"invoiceId": INVOICE_ID, "marketplaceId": BR},
        200,
        {
            "invoice": {
                **SANDBOX_INVOICE,
                "invoiceType": "CUSTOMER_SALES",
                "transactionType": "CUSTOMER_SALES_SYMBOLIC",
            }
        },
    ),
    (
        "getInvoice",
        "GET",
        "/invoices/{invoiceId}",
        {"marketplaceId": BR},
        400,
        _error("Missing required parameter 'invoiceId'"),
    ),
    (
        "getInvoice",
        "GET",
        "/invoices/{invoiceId}",
        {"invoiceId": INVOICE_ID},
        400,
        _error("Missing required parameter 'marketplaceId'"),
    ),
]


def shape(value: Any) -> Any:
    """Return the JSON structure of a value: keys and types, list items by their first one."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def same_shape(actual: Any, wanted: Any) -> bool:
    """Compare shapes; an empty list matches any list (no item to compare)."""
    if isinstance(wanted, dict):
        return (
            isinstance(actual, dict)
            and set(actual) == set(wanted)
            and all(same_shape(actual[key], wanted[key]) for key in wanted)
        )
    if isinstance(wanted, list):
        if not isinstance(actual, list):
            return False
        return not actual or not wanted or same_shape(actual[0], wanted[0])
    return bool(actual == wanted)


def send(client: Client, method: str, template: str, parameters: dict[str, Any]) -> Reply:
    path, query = template, {}
    for name, value in parameters.items():
        text = ",".join(value) if isinstance(value, list) else str(value)
        if "{" + name + "}" in path:
            path = path.replace("{" + name + "}", text)
        elif name != "body":
            query[name] = text
    path = path.split("{", 1)[0]  # a missing path parameter leaves an empty segment
    if method == "POST":
        return client.post(path, parameters.get("body", {}))
    return client.get(path, **query)


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[EmulatorServer]:
    server = start(clock, throttle=False)
    yield server
    server.close()


@pytest.fixture
def client(emu: EmulatorServer, clock: FakeClock) -> Client:
    return Client(emu, clock)


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[f"{e[0]}-{e[4]}-{i}" for i, e in enumerate(EXAMPLES)]
)
def test_static_example_is_answered_with_its_status_and_shape(
    client: Client, example: tuple[str, str, str, dict[str, Any], int, dict[str, Any]]
) -> None:
    operation, method, template, parameters, status, response = example
    reply = send(client, method, template, parameters)
    assert reply.status == status, (operation, reply.text)
    if status >= 400:
        assert reply.json == response
    else:
        assert same_shape(shape(reply.json), shape(response)), (reply.json, response)


@pytest.mark.parametrize("index", [6, 8, 10, 11, 13])
def test_canned_answers_keep_the_examples_values(client: Client, index: int) -> None:
    _, method, template, parameters, _, response = EXAMPLES[index]
    body = send(client, method, template, parameters).json
    body.pop("nextToken", None)
    assert body == {k: v for k, v in response.items() if k != "nextToken"}


@pytest.mark.parametrize("index", [6, 10, 11])
def test_example_next_tokens_lead_to_a_last_empty_page(client: Client, index: int) -> None:
    _, method, template, parameters, _, _ = EXAMPLES[index]
    token = send(client, method, template, parameters).json["nextToken"]
    assert token != TOKEN
    reply = send(client, method, template, {**parameters, "nextToken": token})
    assert reply.status == 200
    key = "exports" if template == "/exports" else "invoices"
    assert reply.json == {key: []}


def test_example_document_downloads_a_zip_with_the_example_invoice(client: Client) -> None:
    reply = client.get(f"/documents/{DOCUMENT_ID}")
    url = reply.json["invoicesDocument"]["invoicesDocumentUrl"]
    with zipfile.ZipFile(io.BytesIO(fetch_zip(url))) as archive:
        assert archive.namelist() == [f"{INVOICE_ID}.xml"]


def test_example_export_request_creates_a_live_export(client: Client) -> None:
    _, _, _, parameters, _, _ = EXAMPLES[4]
    export_id = client.post("/exports", parameters["body"]).json["exportId"]
    assert client.emu.invoices_api.export_status(export_id) == "REQUESTED"


def test_examples_here_are_the_models() -> None:
    model = json.loads(MODEL.read_text(encoding="utf-8"))
    found = []
    for template, operations in model["paths"].items():
        for method, spec in operations.items():
            if not isinstance(spec, dict) or "government" in template:
                continue
            for status, answer in spec["responses"].items():
                for example in answer.get("x-amzn-api-sandbox", {}).get("static", []):
                    parameters = {
                        name: item["value"]
                        for name, item in example["request"]["parameters"].items()
                    }
                    short = template.removeprefix("/tax/invoices/2024-06-19")
                    found.append(
                        (
                            spec["operationId"],
                            method.upper(),
                            short,
                            parameters,
                            int(status),
                            example["response"],
                        )
                    )
    key = lambda example: json.dumps(example, sort_keys=True)  # noqa: E731
    assert sorted(found, key=key) == sorted(EXAMPLES, key=key)
