"""getInvoices, getInvoice and getInvoicesAttributes: paging, sorting, filters, validation."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from spapi_emulator.invoices.data import InvoiceFilter

from .conftest import http_request
from .test_invoices_support import API, BR, WALL_START, Client, day, error, iso, start

if TYPE_CHECKING:
    from collections.abc import Iterator

    from spapi_emulator import EmulatorServer

    from .conftest import FakeClock

RANGE = {"marketplaceId": BR, "dateStart": iso(day(2)), "dateEnd": iso(day(9))}


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[EmulatorServer]:
    server = start(clock, throttle=False)
    yield server
    server.close()


@pytest.fixture
def client(emu: EmulatorServer, clock: FakeClock) -> Client:
    return Client(emu, clock)


def expected(
    emu: EmulatorServer, invoice_filter: InvoiceFilter | None = None, *, descending: bool = False
) -> list[dict[str, Any]]:
    found = emu.invoices_api.invoices(
        day(2), day(9), invoice_filter or InvoiceFilter(), descending=descending
    )
    return [invoice.to_json() for invoice in found]


class TestPaging:
    @pytest.mark.parametrize("page_size", ["1", "7", "100", "200"])
    def test_pages_return_exactly_the_invoices_of_the_range(
        self, client: Client, page_size: str
    ) -> None:
        found, pages = client.sync("/invoices", "invoices", pageSize=page_size, **RANGE)
        assert found == expected(client.emu)
        assert len(found) == 7 * 20
        assert pages >= -(-len(found) // min(int(page_size), 100))

    def test_descending_order(self, client: Client) -> None:
        found, _ = client.sync("/invoices", "invoices", pageSize="9", sortOrder="DESC", **RANGE)
        assert found == expected(client.emu, descending=True)

    def test_a_page_never_holds_more_than_100_invoices(self, client: Client) -> None:
        client.emu.reconfigure(invoices_empty_page_rate=0.0)
        body = client.get("/invoices", pageSize="200", **RANGE).json
        assert len(body["invoices"]) == 100
        assert "nextToken" in body

    def test_every_position_can_be_an_empty_page_once(self, client: Client) -> None:
        client.emu.reconfigure(invoices_empty_page_rate=1.0)
        found: list[dict[str, Any]] = []
        query = {"pageSize": "50", **RANGE}
        shapes = []
        while True:
            body = client.get("/invoices", **query).json
            shapes.append(len(body["invoices"]))
            found.extend(body["invoices"])
            if "nextToken" not in body:
                break
            query = {"pageSize": "50", **RANGE, "nextToken": body["nextToken"]}
        assert shapes == [0, 50, 0, 50, 0, 40]
        assert found == expected(client.emu)

    def test_bounds_are_inclusive(self, client: Client) -> None:
        invoice = client.emu.invoices_api.data.invoices[30]
        moment = iso(invoice.date)
        reply = client.get("/invoices", marketplaceId=BR, dateStart=moment, dateEnd=moment)
        assert invoice.to_json() in reply.json["invoices"]

    def test_date_start_defaults_to_24_hours_ago(self, client: Client) -> None:
        found, _ = client.sync("/invoices", "invoices", marketplaceId=BR)
        last_day = client.emu.invoices_api.invoices(WALL_START - timedelta(days=1), WALL_START)
        assert found == [invoice.to_json() for invoice in last_day]
        assert len(found) == 20

    def test_next_token_with_other_parameters_is_refused_under_the_sandbox_reading(
        self, client: Client
    ) -> None:
        client.emu.reconfigure(invoices_follow_up="token-only")
        token = client.get("/invoices", pageSize="5", **RANGE).json["nextToken"]
        reply = client.get("/invoices", marketplaceId=BR, nextToken=token, statuses="REJECTED")
        assert reply.json == error(
            "Specifying nextToken with any other parameters will cause the request to fail."
        )

    def test_next_token_is_bound_to_the_marketplace(self, client: Client) -> None:
        token = client.get("/invoices", pageSize="5", **RANGE).json["nextToken"]
        reply = client.get("/invoices", marketplaceId="A1AM78C64UM0Y8", nextToken=token)
        assert reply.status == 400

    def test_invoices_bucket_is_twenty_then_one_per_ten_seconds(self, clock: FakeClock) -> None:
        emu = start(clock)
        try:
            client = Client(emu, clock)
            statuses = [client.get("/invoices", **RANGE).status for _ in range(21)]
            assert statuses == [200] * 20 + [429]
            clock.advance(10.0)
            assert client.get("/invoices", **RANGE).status == 200
            operations = emu.stats()["operations"]
            assert operations["getInvoices"]["by_status"] == {"200": 21, "429": 1}  # type: ignore[index]
        finally:
            emu.close()


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "invoice_filter"),
        [
            ({"statuses": "REJECTED"}, InvoiceFilter(statuses=frozenset({"REJECTED"}))),
            (
                {"statuses": "REJECTED,CANCELED"},
                InvoiceFilter(statuses=frozenset({"REJECTED", "CANCELED"})),
            ),
            ({"invoiceType": "CUSTOMER_RETURN"}, InvoiceFilter(invoice_type="CUSTOMER_RETURN")),
            ({"series": "2"}, InvoiceFilter(series="2")),
            (
                {"transactionType": "CUSTOMER_SALES_SYMBOLIC"},
                InvoiceFilter(transaction_type="CUSTOMER_SALES_SYMBOLIC"),
            ),
            (
                {"series": "1", "invoiceType": "CUSTOMER_SALES", "statuses": "AUTHORIZED"},
                InvoiceFilter(
                    statuses=frozenset({"AUTHORIZED"}), series="1", invoice_type="CUSTOMER_SALES"
                ),
            ),
        ],
    )
    def test_filters_select_the_same_invoices_as_the_helper(
        self, client: Client, params: dict[str, str], invoice_filter: InvoiceFilter
    ) -> None:
        found, _ = client.sync("/invoices", "invoices", pageSize="30", **RANGE, **params)
        assert found == expected(client.emu, invoice_filter)
        assert found

    def test_external_id_and_transaction_identifier_find_one_invoice(self, client: Client) -> None:
        invoice = client.emu.invoices_api.invoices(day(2), day(9))[17]
        by_number, _ = client.sync(
            "/invoices",
            "invoices",
            externalInvoiceId=invoice.external_invoice_id,
            series=invoice.series,
            **RANGE,
        )
        assert by_number == [invoice.to_json()]
        transaction = invoice.transaction_ids[0]
        by_transaction, _ = client.sync(
            "/invoices",
            "invoices",
            transactionIdentifierName=transaction.name,
            transactionIdentifierId=transaction.id,
            **RANGE,
        )
        assert by_transaction == [invoice.to_json()]

    @pytest.mark.parametrize(
        ("params", "details"),
        [
            ({"transactionIdentifierName": "ORDER_ID"}, "transactionIdentifierName and"),
            ({"statuses": "AUTHORIZED,"}, "Invalid statuses: 'AUTHORIZED,'."),
            ({"sortBy": "DATE"}, "Invalid sortBy: 'DATE'."),
            ({"sortOrder": "UP"}, "Invalid sortOrder: 'UP'."),
            ({"pageSize": "201"}, "Invalid pageSize: '201'."),
            ({"pageSize": "ten"}, "Invalid pageSize: 'ten'."),
            ({"dateEnd": "2024-13-01T00:00:00Z"}, "Invalid dateEnd"),
            ({"marketplaceIds": BR}, "Unknown parameter: 'marketplaceIds'."),
        ],
    )
    def test_invalid_queries_are_400(
        self, client: Client, params: dict[str, str], details: str
    ) -> None:
        reply = client.get("/invoices", **{**RANGE, **params})
        assert reply.status == 400
        assert reply.error["details"].startswith(details)

    def test_repeated_statuses_are_refused(self, client: Client) -> None:
        params = [*RANGE.items(), ("statuses", "AUTHORIZED"), ("statuses", "REJECTED")]
        headers = {"x-amz-access-token": client.token}
        url = client.emu.url + API + "/invoices"
        reply = http_request("GET", url, params=params, headers=headers)
        assert reply.status == 400
        assert reply.error["details"].startswith("Parameter 'statuses' must not be repeated")


class TestGetInvoice:
    def test_returns_the_invoice(self, client: Client) -> None:
        invoice = client.emu.invoices_api.data.invoices[42]
        reply = client.get(f"/invoices/{invoice.id}", marketplaceId=BR)
        assert reply.status == 200
        assert reply.json == {"invoice": invoice.to_json()}
        assert client.emu.invoices_api.invoice(invoice.id) == invoice

    def test_unknown_invoice_is_404(self, client: Client) -> None:
        reply = client.get("/invoices/00000000-0000-4000-8000-000000000000", marketplaceId=BR)
        assert reply.status == 404
        assert reply.error == {
            "code": "404",
            "message": "The resource specified does not exist.",
            "details": "Invoice '00000000-0000-4000-8000-000000000000' was not found.",
        }

    def test_missing_marketplace_uses_the_get_invoice_wording(self, client: Client) -> None:
        reply = client.get("/invoices/abc")
        assert reply.json == error("Missing required parameter 'marketplaceId'")


def test_attributes_list_every_value_the_dataset_uses(client: Client) -> None:
    reply = client.get("/attributes", marketplaceId=BR)
    assert reply.status == 200
    attributes = reply.json["invoicesAttributes"]
    values = {key: {o["value"] for o in options} for key, options in attributes.items()}
    invoices = client.emu.invoices_api.data.invoices
    assert values["invoiceStatusOptions"] == {"AUTHORIZED", "REJECTED", "CANCELED"}
    assert {i.invoice_type for i in invoices} <= values["invoiceTypeOptions"]
    assert {i.transaction_type for i in invoices} <= values["transactionTypeOptions"]
    names = {t.name for i in invoices for t in i.transaction_ids}
    assert names <= values["transactionIdentifierNameOptions"]
    assert all(o["description"] for options in attributes.values() for o in options)
