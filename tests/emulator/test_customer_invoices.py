"""getCustomerInvoices: validation, paging, nextTokens, bounds and both API versions."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from yarl import URL

from .conftest import DF_2021, DF_V1, Api, day, iso

if TYPE_CHECKING:
    from spapi_emulator import EmulatorServer

SEVEN_DAYS = "The date range to search must be no more than 7 days."
NEXT_TOKEN_INVALID = "Next token is invalid or expired"  # noqa: S105 - a message


def window(after: datetime, before: datetime, **extra: str) -> dict[str, str]:
    return {"createdAfter": iso(after), "createdBefore": iso(before), **extra}


@pytest.fixture
def rdt(api: Api) -> str:
    return api.rdt()


class TestValidation:
    NOW = datetime.now(UTC)

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            pytest.param(
                {"createdBefore": "2024-01-02T00:00:00Z"},
                "Missing required parameter: createdAfter.",
                id="missing-createdAfter",
            ),
            pytest.param(
                {"createdAfter": "2024-01-01T00:00:00Z"},
                "Missing required parameter: createdBefore.",
                id="missing-createdBefore",
            ),
            pytest.param(
                {"createdAfter": "2024-01-01", "createdBefore": "2024-01-02T00:00:00Z"},
                "Invalid createdAfter: '2024-01-01'.",
                id="date-without-time",
            ),
            pytest.param(
                {"createdAfter": "2024-01-01T00:00:00", "createdBefore": "2024-01-02T00:00:00Z"},
                "Invalid createdAfter",
                id="no-offset",
            ),
            pytest.param(
                {"createdAfter": "2024-01-01 00:00:00Z", "createdBefore": "2024-01-02T00:00:00Z"},
                "Invalid createdAfter",
                id="space-instead-of-T",
            ),
            pytest.param(
                # A "+05:30" offset sent without URL-encoding arrives as " 05:30".
                {
                    "createdAfter": "2024-01-01T05:30:00 05:30",
                    "createdBefore": "2024-01-02T00:00:00Z",
                },
                "Invalid createdAfter",
                id="unencoded-plus-offset",
            ),
            pytest.param(
                window(NOW - timedelta(days=1), NOW + timedelta(days=1)),
                "Invalid createdBefore: it must not be later than now.",
                id="createdBefore-in-the-future",
            ),
            pytest.param(
                window(day(2), day(2)),
                "Invalid date range: createdAfter must be before createdBefore.",
                id="empty-range",
            ),
            pytest.param(
                window(day(3), day(2)),
                "Invalid date range: createdAfter must be before createdBefore.",
                id="reversed-range",
            ),
            pytest.param(window(day(0), day(8)), SEVEN_DAYS, id="eight-day-range"),
            pytest.param(
                window(day(0), day(7) + timedelta(milliseconds=1)),
                SEVEN_DAYS,
                id="seven-days-and-a-millisecond",
            ),
            pytest.param(window(day(0), day(1), limit="0"), "Invalid limit: '0'.", id="limit-0"),
            pytest.param(window(day(0), day(1), limit="101"), "Invalid limit", id="limit-101"),
            pytest.param(window(day(0), day(1), limit="ten"), "Invalid limit", id="limit-text"),
            pytest.param(window(day(0), day(1), sortOrder="asc"), "Invalid sortOrder", id="asc"),
            pytest.param(
                window(day(0), day(1), marketplaceIds="A21TJRUUN4KGV"),
                "Invalid content was found starting with element 'marketplaceIds'.",
                id="unknown-parameter-marketplaceIds",
            ),
            pytest.param(
                window(day(0), day(1), nextToken="MDAwMDAwMDAwMQ=="),
                NEXT_TOKEN_INVALID,
                id="foreign-nextToken",
            ),
        ],
    )
    def test_invalid_query_is_400_invalid_input(
        self, api: Api, rdt: str, params: dict[str, str], message: str
    ) -> None:
        reply = api.invoices(rdt, **params)
        assert reply.status == 400
        assert reply.error["code"] == "InvalidInput"
        assert reply.error["message"].startswith(message)
        assert reply.error["details"] == ""
        assert reply.headers["x-amzn-RateLimit-Limit"] == "10.0"

    def test_seven_day_error_body_is_exactly_the_models_wording(self, api: Api, rdt: str) -> None:
        reply = api.invoices(rdt, **window(day(0), day(8)))
        assert reply.json == {
            "errors": [{"code": "InvalidInput", "message": SEVEN_DAYS, "details": ""}]
        }

    def test_exactly_seven_days_is_accepted(self, api: Api, rdt: str) -> None:
        assert api.invoices(rdt, **window(day(0), day(7))).status == 200

    def test_offsets_other_than_utc_are_accepted(self, api: Api, rdt: str) -> None:
        params = {"createdAfter": "2024-01-01T05:30:00+05:30", "createdBefore": iso(day(1))}
        assert api.invoices(rdt, **params).status == 200  # aiohttp encodes "+" as %2B

    def test_repeated_parameter_is_400(self, api: Api, rdt: str) -> None:
        url = URL(api.emu.url + DF_2021).with_query(
            [
                ("createdAfter", iso(day(0))),
                ("createdBefore", iso(day(1))),
                ("limit", "5"),
                ("limit", "6"),
            ]
        )
        reply = api.request("GET", url, headers={"x-amz-access-token": rdt})
        assert reply.status == 400
        assert reply.error["code"] == "InvalidInput"


class TestPaging:
    def test_next_token_paging_returns_exactly_the_dataset_window_in_ascending_order(
        self, api: Api, emu: EmulatorServer, rdt: str
    ) -> None:
        found = api.sync(rdt, **window(day(2), day(5), limit="7"))
        expected = emu.dataset.invoices(day(2), day(5))
        assert [i["purchaseOrderNumber"] for i in found] == [
            i.purchase_order_number for i in expected
        ]
        assert len(found) > 7 * 3

    def test_each_invoice_carries_its_base64_pdf(
        self, api: Api, emu: EmulatorServer, rdt: str
    ) -> None:
        first = api.invoices(rdt, **window(day(2), day(3), limit="3")).json["customerInvoices"][0]
        assert set(first) == {"purchaseOrderNumber", "content"}
        assert first["content"] == emu.dataset.content(first["purchaseOrderNumber"])
        assert base64.b64decode(first["content"]).startswith(b"%PDF-1.4\n")

    def test_descending_order_returns_the_window_newest_first(
        self, api: Api, emu: EmulatorServer, rdt: str
    ) -> None:
        found = api.sync(rdt, **window(day(2), day(4), limit="100", sortOrder="DESC"))
        expected = emu.dataset.invoices(day(2), day(4))[::-1]
        assert [i["purchaseOrderNumber"] for i in found] == [
            i.purchase_order_number for i in expected
        ]

    def test_ship_from_party_id_filters_to_that_warehouse(
        self, api: Api, emu: EmulatorServer, rdt: str
    ) -> None:
        found = api.sync(rdt, **window(day(1), day(3), shipFromPartyId="WH-DEL-2", limit="50"))
        expected = emu.dataset.invoices(day(1), day(3), "WH-DEL-2")
        assert [i["purchaseOrderNumber"] for i in found] == [
            i.purchase_order_number for i in expected
        ]

    def test_default_page_size_is_50(self, api: Api, rdt: str) -> None:
        reply = api.invoices(rdt, **window(day(1), day(3)))
        assert len(reply.json["customerInvoices"]) == 50

    def test_last_page_has_no_next_token(self, api: Api, emu: EmulatorServer, rdt: str) -> None:
        total = len(emu.dataset.invoices(day(1), day(2), "WH-BLR-1"))
        reply = api.invoices(rdt, **window(day(1), day(2), limit="100", shipFromPartyId="WH-BLR-1"))
        assert total <= 100
        assert "pagination" not in reply.json
        assert len(reply.json["customerInvoices"]) == total

    def test_empty_window_is_200_with_no_invoices(self, api: Api, rdt: str) -> None:
        reply = api.invoices(rdt, **window(day(200), day(201)))
        assert reply.status == 200
        assert reply.json == {"customerInvoices": []}

    def test_next_tokens_hold_characters_that_must_be_url_encoded(self, api: Api, rdt: str) -> None:
        token = api.invoices(rdt, **window(day(1), day(2), limit="5")).json["pagination"][
            "nextToken"
        ]
        assert {"+", "/", "="} <= set(token)

    def test_next_token_sent_without_url_encoding_is_400(self, api: Api, rdt: str) -> None:
        params = window(day(1), day(2), limit="5")
        token = api.invoices(rdt, **params).json["pagination"]["nextToken"]
        raw = "&".join(f"{k}={v}" for k, v in {**params, "nextToken": token}.items())
        url = URL(f"{api.emu.url}{DF_2021}?{raw}", encoded=True)
        reply = api.request("GET", url, headers={"x-amz-access-token": rdt})
        assert reply.status == 400
        assert reply.error["message"] == NEXT_TOKEN_INVALID

    @pytest.mark.parametrize(
        "change",
        [
            {"limit": "6"},
            {"createdBefore": iso(day(2) - timedelta(milliseconds=1))},
            {"shipFromPartyId": "WH-BLR-1"},
            {"sortOrder": "DESC"},
        ],
        ids=["limit", "createdBefore", "shipFromPartyId", "sortOrder"],
    )
    def test_next_token_reused_with_other_parameters_is_400(
        self, api: Api, rdt: str, change: dict[str, str]
    ) -> None:
        params = window(day(1), day(2), limit="5")
        token = api.invoices(rdt, **params).json["pagination"]["nextToken"]
        reply = api.invoices(rdt, **{**params, **change, "nextToken": token})
        assert reply.status == 400
        assert reply.json == {
            "errors": [{"code": "InvalidInput", "message": NEXT_TOKEN_INVALID, "details": ""}]
        }

    def test_next_token_expires_after_next_token_ttl(
        self, api: Api, emu: EmulatorServer, rdt: str, clock
    ) -> None:
        emu.reconfigure(next_token_ttl=30.0)
        params = window(day(1), day(2), limit="5")
        token = api.invoices(rdt, **params).json["pagination"]["nextToken"]
        clock.advance(29.0)
        assert api.invoices(rdt, **params, nextToken=token).status == 200
        clock.advance(2.0)
        reply = api.invoices(rdt, **params, nextToken=token)
        assert reply.status == 400
        assert reply.error["message"] == NEXT_TOKEN_INVALID

    def test_next_tokens_never_expire_by_default(self, api: Api, rdt: str, clock) -> None:
        params = window(day(1), day(2), limit="5")
        token = api.invoices(rdt, **params).json["pagination"]["nextToken"]
        clock.advance(3000.0)
        assert api.invoices(rdt, **params, nextToken=token).status == 200


class TestBounds:
    def test_strict_bounds_skip_an_invoice_stamped_exactly_on_created_before(
        self, api: Api, emu: EmulatorServer, rdt: str
    ) -> None:
        on_bound = {
            i.purchase_order_number for i in emu.dataset.all_invoices() if i.created_at == day(3)
        }
        assert on_bound
        found = api.sync(rdt, **window(day(2), day(3), limit="100"))
        found += api.sync(rdt, **window(day(3), day(4), limit="100"))
        assert not on_bound & {i["purchaseOrderNumber"] for i in found}

    def test_inclusive_bounds_return_a_boundary_invoice_in_both_adjacent_windows(
        self, api: Api, emu: EmulatorServer, rdt: str
    ) -> None:
        emu.reconfigure(inclusive_bounds=True)
        on_bound = {
            i.purchase_order_number for i in emu.dataset.all_invoices() if i.created_at == day(3)
        }
        first = api.sync(rdt, **window(day(2), day(3), limit="100"))
        second = api.sync(rdt, **window(day(3), day(4), limit="100"))
        assert on_bound <= {i["purchaseOrderNumber"] for i in first}
        assert on_bound <= {i["purchaseOrderNumber"] for i in second}
        assert [i["purchaseOrderNumber"] for i in first] == [
            i.purchase_order_number for i in emu.dataset.invoices(day(2), day(3), inclusive=True)
        ]


class TestVersions:
    def test_v1_wraps_the_same_list_in_payload(self, api: Api) -> None:
        params = window(day(1), day(2), limit="4")
        v1 = api.invoices(api.rdt(DF_V1), DF_V1, **params)
        current = api.invoices(api.rdt(DF_2021), DF_2021, **params)
        assert v1.status == current.status == 200
        assert set(v1.json) == {"payload"}
        assert v1.json["payload"]["customerInvoices"] == current.json["customerInvoices"]
        assert "nextToken" in v1.json["payload"]["pagination"]

    def test_v1_pages_to_the_same_invoices(self, api: Api, emu: EmulatorServer) -> None:
        found = api.sync(api.rdt(DF_V1), DF_V1, **window(day(4), day(6), limit="40"))
        assert [i["purchaseOrderNumber"] for i in found] == [
            i.purchase_order_number for i in emu.dataset.invoices(day(4), day(6))
        ]


class TestHeaders:
    def test_every_answer_has_a_fresh_uuid_request_id(self, api: Api, rdt: str) -> None:
        first = api.invoices(rdt, **window(day(1), day(2)))
        second = api.invoices("Atza|bogus", **window(day(1), day(2)))
        ids = {first.headers["x-amzn-RequestId"], second.headers["x-amzn-RequestId"]}
        assert len(ids) == 2
        assert all(len(i) == 36 and i.count("-") == 4 for i in ids)

    def test_success_advertises_the_operation_rate(self, api: Api, rdt: str) -> None:
        reply = api.invoices(rdt, **window(day(1), day(2)))
        assert reply.headers["x-amzn-RateLimit-Limit"] == "10.0"

    def test_unknown_path_is_404_not_found_in_sp_api_shape(self, api: Api) -> None:
        reply = api.request("GET", api.emu.url + "/vendor/directFulfillment/shipping/v9/x")
        assert reply.status == 404
        assert reply.error["code"] == "NotFound"
        assert "x-amzn-RequestId" in reply.headers
