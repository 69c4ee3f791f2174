"""The Invoices API streams replay the model's static sandbox examples, and match its schemas."""

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tap_spinvoices.spapi.paging import FollowUpForms
from tap_spinvoices.streams import invoice_documents as documents
from tap_spinvoices.streams import invoices_api
from tap_spinvoices.streams.invoice_exports import export_day
from tap_spinvoices.streams.schemas import load_schema
from tap_spinvoices.sync.windows import Window

MODEL = json.loads(
    (
        Path(__file__).resolve().parents[1] / "spapi_models" / "InvoicesApiModel_2024-06-19.json"
    ).read_text()
)
WINDOW = Window(datetime(2024, 7, 10, tzinfo=UTC), datetime(2024, 7, 11, tzinfo=UTC))
MARKETPLACE = "A2Q3Y263D00KWC"


def sandbox_200(path: str) -> dict:
    """The static sandbox body of a GET operation's 200 answer."""
    response = MODEL["paths"][path]["get"]["responses"]["200"]
    return response["x-amzn-api-sandbox"]["static"][0]["response"]


class ScriptedClient:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    async def get_json(self, operation, path, params, *, restricted=False, max_bytes=None):
        del max_bytes  # the client's own bound: no page size is lowered here
        assert not restricted  # the Invoices API needs no RDT
        self.calls.append((operation, path, dict(params)))
        return self.answers.pop(0)


def collect(pages):
    async def run():
        return [records async for records, _size in pages]

    return asyncio.run(run())


def test_exports_sandbox_page_becomes_records_and_the_token_goes_with_every_argument():
    example = sandbox_200("/tax/invoices/2024-06-19/exports")
    client = ScriptedClient(example, {"exports": []})
    pages = collect(
        invoices_api.exports_window_pages(
            client, WINDOW, marketplace=MARKETPLACE, forms=FollowUpForms()
        )
    )

    export = example["exports"][0]
    assert pages[0] == [
        {
            **export,
            "marketplaceId": MARKETPLACE,
            "window_start": "2024-07-10T00:00:00+00:00",
            "window_end": "2024-07-11T00:00:00+00:00",
        }
    ]
    assert client.calls[1][2] == {**client.calls[0][2], "nextToken": example["nextToken"]}


def test_invoices_sandbox_page_becomes_records_oldest_first_with_filters():
    example = sandbox_200("/tax/invoices/2024-06-19/invoices")
    client = ScriptedClient({**example, "nextToken": None})
    pages = collect(
        invoices_api.invoices_window_pages(
            client,
            WINDOW,
            marketplace=MARKETPLACE,
            filters={"statuses": "AUTHORIZED,REJECTED"},
            forms=FollowUpForms(),
        )
    )

    assert pages[0][0]["id"] == example["invoices"][0]["id"]
    assert pages[0][0]["transactionIds"] == example["invoices"][0]["transactionIds"]
    params = client.calls[0][2]
    assert params["sortBy"] == "START_DATE_TIME"
    assert params["sortOrder"] == "ASC"
    assert params["statuses"] == "AUTHORIZED,REJECTED"
    declared = {
        p["name"] for p in MODEL["paths"]["/tax/invoices/2024-06-19/invoices"]["get"]["parameters"]
    }
    assert set(params) <= declared


def test_get_export_and_document_url_parse_the_sandbox_answers():
    export = sandbox_200("/tax/invoices/2024-06-19/exports/{exportId}")
    document = sandbox_200("/tax/invoices/2024-06-19/documents/{invoicesDocumentId}")
    client = ScriptedClient(export, document)

    assert (
        asyncio.run(invoices_api.get_export(client, "4bdd8293-0cd7-4208-bed5-78b2c6ecefef"))
        == export["export"]
    )
    url = asyncio.run(documents.mint_url(client, "18c598f5-75db-4c1a-bd3e-4c64b36781c5"))
    assert url == document["invoicesDocument"]["invoicesDocumentUrl"]
    assert (
        client.calls[1][1]
        == "/tax/invoices/2024-06-19/documents/18c598f5-75db-4c1a-bd3e-4c64b36781c5"
    )


@pytest.mark.parametrize(
    ("stream", "definition"), [("invoice_exports", "Export"), ("invoices", "Invoice")]
)
def test_schema_fields_are_the_models_fields(stream, definition):
    model = MODEL["definitions"][definition]["properties"]
    schema = load_schema(stream)["properties"]
    for field, spec in model.items():
        ours = schema[field]
        expected = "string" if "$ref" in spec else spec["type"]
        assert expected in ours["type"]
        if spec.get("format"):
            assert ours["format"] == spec["format"]
    assert set(schema) - set(model) == {"marketplaceId", "window_start", "window_end", "account_id"}


@pytest.mark.parametrize(
    ("times", "day"),
    [
        pytest.param(
            {
                "generateExportStartedAt": "2024-01-04T23:00:00.000Z",
                "generateExportFinishedAt": "2024-01-05T01:00:00.000Z",
            },
            date(2024, 1, 5),
            id="finished",
        ),
        pytest.param(
            {"generateExportStartedAt": "2024-01-04T23:00:00.000Z"}, date(2024, 1, 4), id="started"
        ),
        pytest.param(
            {"generateExportFinishedAt": "2024-01-05T01:00:00+03:00"},
            date(2024, 1, 4),
            id="utc-day",
        ),
        pytest.param({"generateExportFinishedAt": "soon"}, date(2024, 1, 2), id="not-a-time"),
        pytest.param({"generateExportFinishedAt": 20240105}, date(2024, 1, 2), id="not-a-string"),
        pytest.param(
            {"generateExportFinishedAt": "0001-01-01T00:00:00Z"}, date(2024, 1, 2), id="year-1"
        ),
        pytest.param({}, date(2024, 1, 2), id="neither"),
    ],
)
def test_an_export_s_day_is_when_amazon_generated_it_else_its_window_s(times, day):
    record = {"exportId": "E1", "window_start": "2024-01-02T06:00:00+00:00", **times}

    assert export_day(record) == day
