"""Invoices API exports: validation, paging, the export lifecycle and createInvoicesExport."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from .test_invoices_support import BR, DAYS, WALL_START, Client, day, error, iso, start

if TYPE_CHECKING:
    from collections.abc import Iterator

    from spapi_emulator import EmulatorServer

    from .conftest import FakeClock

NEXT_TOKEN_ALONE = "Specifying nextToken with any other parameters will cause the request to fail."  # noqa: S105
ALL_DAYS = {"marketplaceId": BR, "dateStart": iso(day(0)), "dateEnd": iso(WALL_START)}
UNPARSABLE = "Request has missing or invalid parameters and cannot be parsed."


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[EmulatorServer]:
    server = start(clock, throttle=False, invoices_empty_page_rate=0.0)
    yield server
    server.close()


@pytest.fixture
def client(emu: EmulatorServer, clock: FakeClock) -> Client:
    return Client(emu, clock)


def expected_exports(emu: EmulatorServer, status: str | None = None) -> list[dict[str, Any]]:
    views = emu.invoices_api.exports(day(0), WALL_START, status)
    return [view.to_json() for view in views]


class TestValidation:
    @pytest.mark.parametrize(
        ("path", "params", "details"),
        [
            ("/exports", {}, "Missing required parameter: 'marketplaceId'"),
            ("/exports", {"status": "DONE"}, "Missing required parameter: 'marketplaceId'"),
            ("/invoices", {}, "Missing required parameter: 'marketplaceId'"),
            ("/attributes", {}, "Missing required parameter: 'marketplaceId'"),
            ("/invoices/abc", {}, "Missing required parameter 'marketplaceId'"),
            ("/exports", {"marketplaceId": BR, "pageSize": "0"}, "Invalid pageSize: '0'."),
            ("/exports", {"marketplaceId": BR, "pageSize": "101"}, "Invalid pageSize: '101'."),
            ("/exports", {"marketplaceId": BR, "status": "FAILED"}, "Invalid status: 'FAILED'."),
            (
                "/exports",
                {"marketplaceId": BR, "dateStart": "today"},
                "Invalid dateStart: 'today'.",
            ),
            ("/exports", {"marketplaceId": BR, "limit": "5"}, "Unknown parameter: 'limit'."),
            ("/exports", {"marketplaceId": "ATVPDKIKX0DER"}, "Invalid marketplaceId"),
        ],
    )
    def test_invalid_requests_are_400_in_the_invoices_shape(
        self, client: Client, path: str, params: dict[str, str], details: str
    ) -> None:
        reply = client.get(path, **params)
        assert reply.status == 400
        assert reply.error["code"] == "400"
        assert reply.error["message"] == "Invalid Request."
        assert reply.error["details"].startswith(details)
        assert "x-amzn-RateLimit-Limit" in reply.headers

    def test_missing_marketplace_body_is_exactly_the_sandbox_one(self, client: Client) -> None:
        assert client.get("/exports").json == error("Missing required parameter: 'marketplaceId'")

    def test_date_range_must_not_be_reversed(self, client: Client) -> None:
        reply = client.get("/exports", marketplaceId=BR, dateStart=iso(day(3)), dateEnd=iso(day(2)))
        assert reply.json == error("Invalid date range: dateStart must not be after dateEnd.")

    def test_expired_access_token_is_the_direct_fulfillment_routes_403(
        self, client: Client, clock: FakeClock
    ) -> None:
        client.get("/exports", marketplaceId=BR)
        clock.advance(3600)
        reply = client.get("/exports", marketplaceId=BR)
        assert reply.status == 403
        assert reply.json == {
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": "The access token you provided has expired.",
                }
            ]
        }

    def test_missing_token_is_403(self, client: Client) -> None:
        assert client.get_as({}, "/exports", marketplaceId=BR).status == 403


class TestPaging:
    def test_pages_return_every_export_in_the_range_oldest_first(self, client: Client) -> None:
        found, pages = client.sync("/exports", "exports", pageSize="3", **ALL_DAYS)
        assert found == expected_exports(client.emu)
        assert len(found) == DAYS
        assert pages == 5

    def test_next_token_with_any_other_parameter_is_refused_under_the_sandbox_reading(
        self, client: Client
    ) -> None:
        client.emu.reconfigure(invoices_follow_up="token-only")
        first = client.get("/exports", pageSize="2", **ALL_DAYS).json
        for extra in ({"pageSize": "2"}, {"status": "DONE"}, {"dateStart": ALL_DAYS["dateStart"]}):
            reply = client.get("/exports", marketplaceId=BR, nextToken=first["nextToken"], **extra)
            assert reply.status == 400
            assert reply.json == error(NEXT_TOKEN_ALONE)

    def test_foreign_or_tampered_tokens_are_refused(self, client: Client) -> None:
        invoices = client.get("/invoices", pageSize="1", **ALL_DAYS).json
        reply = client.get("/exports", marketplaceId=BR, nextToken=invoices["nextToken"])
        assert reply.json == error("Next token is invalid or expired")
        reply = client.get("/exports", marketplaceId=BR, nextToken="WTtGLzlBkat22iOI5C1yrp")
        assert reply.json == error("Next token is invalid or expired")

    def test_tokens_expire_with_next_token_ttl(self, client: Client, clock: FakeClock) -> None:
        client.emu.reconfigure(next_token_ttl=60.0)
        token = client.get("/exports", pageSize="2", **ALL_DAYS).json["nextToken"]
        clock.advance(61)
        reply = client.get("/exports", marketplaceId=BR, nextToken=token)
        assert reply.json == error("Next token is invalid or expired")

    def test_status_filter_applies_after_the_page_scan_so_pages_can_be_empty(
        self, client: Client
    ) -> None:
        found, pages = client.sync("/exports", "exports", pageSize="1", status="ERROR", **ALL_DAYS)
        assert found == expected_exports(client.emu, "ERROR")
        assert len(found) < pages == DAYS

    def test_some_pages_are_empty_while_a_next_token_is_present(self, client: Client) -> None:
        client.emu.reconfigure(invoices_empty_page_rate=0.5)
        query: dict[str, str] = {"pageSize": "2", **ALL_DAYS}
        empty = 0
        found: list[dict[str, Any]] = []
        while True:
            body = client.get("/exports", **query).json
            found.extend(body["exports"])
            if "nextToken" not in body:
                break
            empty += not body["exports"]
            query = {"pageSize": "2", **ALL_DAYS, "nextToken": body["nextToken"]}
        assert empty >= 1
        assert found == expected_exports(client.emu)

    def test_empty_pages_are_reproducible(self, client: Client) -> None:
        client.emu.reconfigure(invoices_empty_page_rate=0.5)
        params = {"pageSize": "2", **ALL_DAYS}
        first = [client.get("/exports", **params).json["exports"] for _ in range(3)]
        assert first[0] == first[1] == first[2]

    def test_date_start_defaults_to_30_days_ago(self, clock: FakeClock) -> None:
        emu = start(
            clock,
            days=45,
            dataset_start=WALL_START - timedelta(days=45),
            throttle=False,
            invoices_empty_page_rate=0.0,
        )
        try:
            found, _ = Client(emu, clock).sync("/exports", "exports", marketplaceId=BR)
            now = emu.state.wall_clock()
            views = emu.invoices_api.exports(now - timedelta(days=30), now)
            assert found == [view.to_json() for view in views]
            assert len(found) in {29, 30}
        finally:
            emu.close()

    def test_exports_outside_the_range_are_left_out(self, client: Client) -> None:
        found, _ = client.sync(
            "/exports", "exports", marketplaceId=BR, dateStart=iso(day(2)), dateEnd=iso(day(4))
        )
        assert len(found) == 2


class TestLifecycle:
    def test_created_export_goes_requested_processing_done(
        self, client: Client, clock: FakeClock
    ) -> None:
        reply = client.post(
            "/exports",
            {
                "marketplaceId": BR,
                "dateStart": iso(day(3)),
                "dateEnd": iso(day(4)),
                "fileFormat": "XML",
            },
        )
        assert reply.status == 202
        export_id = reply.json["exportId"]
        assert list(reply.json) == ["exportId"]
        requested = client.get(f"/exports/{export_id}").json["export"]
        assert requested == {"exportId": export_id, "status": "REQUESTED"}
        clock.advance(30.0)
        processing = client.get(f"/exports/{export_id}").json["export"]
        assert processing["status"] == "PROCESSING"
        assert set(processing) == {"exportId", "status", "generateExportStartedAt"}
        clock.advance(119.0)
        assert client.get(f"/exports/{export_id}").json["export"]["status"] == "PROCESSING"
        clock.advance(1.0)
        done = client.get(f"/exports/{export_id}").json["export"]
        assert done["status"] == "DONE"
        assert done["generateExportStartedAt"] == processing["generateExportStartedAt"]
        assert done["generateExportFinishedAt"] > done["generateExportStartedAt"]
        assert done["invoicesDocumentIds"]
        assert client.emu.invoices_api.export_status(export_id) == "DONE"

    def test_created_export_documents_hold_the_filtered_invoices_of_its_range(
        self, client: Client, clock: FakeClock
    ) -> None:
        body = {
            "marketplaceId": BR,
            "dateStart": iso(day(1)),
            "dateEnd": iso(day(6)),
            "statuses": ["AUTHORIZED"],
            "series": "1",
        }
        export_id = client.post("/exports", body).json["exportId"]
        clock.advance(150.0)
        export = client.get(f"/exports/{export_id}").json["export"]
        api = client.emu.invoices_api
        ids = [i for d in export["invoicesDocumentIds"] for i in api.document_invoice_ids(d)]
        expected = [
            inv.id
            for inv in api.invoices(day(1), day(6))
            if inv.status == "AUTHORIZED" and inv.series == "1"
        ]
        assert ids == expected
        per_document = client.emu.config.invoices_per_document
        assert len(export["invoicesDocumentIds"]) == -(-len(expected) // per_document)

    def test_plain_dates_cover_whole_days(self, client: Client, clock: FakeClock) -> None:
        body = {"marketplaceId": BR, "dateStart": "2024-01-03", "dateEnd": "2024-01-03"}
        export_id = client.post("/exports", body).json["exportId"]
        clock.advance(150.0)
        api = client.emu.invoices_api
        document_ids = client.get(f"/exports/{export_id}").json["export"]["invoicesDocumentIds"]
        ids = [i for d in document_ids for i in api.document_invoice_ids(d)]
        assert ids == [inv.id for inv in api.invoices(day(2), day(3)) if inv.date < day(3)]
        assert len(ids) == 20

    def test_time_scale_shortens_the_lifecycle(self, client: Client, clock: FakeClock) -> None:
        client.emu.reconfigure(time_scale=10.0)
        export_id = client.post("/exports", {"marketplaceId": BR}).json["exportId"]
        clock.advance(3.0)
        assert client.get(f"/exports/{export_id}").json["export"]["status"] == "PROCESSING"
        clock.advance(12.0)
        assert client.get(f"/exports/{export_id}").json["export"]["status"] == "DONE"

    def test_export_error_rate_ends_exports_in_error(
        self, client: Client, clock: FakeClock
    ) -> None:
        client.emu.reconfigure(export_error_rate=1.0)
        export_id = client.post("/exports", {"marketplaceId": BR}).json["exportId"]
        clock.advance(150.0)
        export = client.get(f"/exports/{export_id}").json["export"]
        assert export["status"] == "ERROR"
        assert export["errorMessage"]
        assert "invoicesDocumentIds" not in export
        assert "generateExportFinishedAt" in export

    def test_error_predicate_sees_the_date_range(self, client: Client, clock: FakeClock) -> None:
        client.emu.reconfigure(export_error_predicate=lambda start, _end: start < day(2))
        bad = client.post("/exports", {"marketplaceId": BR, "dateStart": iso(day(1))})
        clock.advance(6.0)
        good = client.post("/exports", {"marketplaceId": BR, "dateStart": iso(day(2))})
        clock.advance(150.0)
        api = client.emu.invoices_api
        assert api.export_status(bad.json["exportId"]) == "ERROR"
        assert api.export_status(good.json["exportId"]) == "DONE"

    def test_created_exports_are_listed_and_ids_are_reproducible(
        self, client: Client, clock: FakeClock
    ) -> None:
        export_id = client.post("/exports", {"marketplaceId": BR}).json["exportId"]
        found, _ = client.sync("/exports", "exports", marketplaceId=BR, status="REQUESTED")
        newest = client.emu.invoices_api.data.history[-1].export_id
        assert [e["exportId"] for e in found] == [newest, export_id]
        other = start(clock, throttle=False)
        try:
            again = Client(other, clock).post("/exports", {"marketplaceId": BR}).json
            assert again["exportId"] == export_id
        finally:
            other.close()

    def test_history_pending_exports_advance_to_done(
        self, client: Client, clock: FakeClock
    ) -> None:
        newest = client.emu.invoices_api.data.history[-1].export_id
        assert client.get(f"/exports/{newest}").json["export"]["status"] == "REQUESTED"
        clock.advance(150.0)
        assert client.get(f"/exports/{newest}").json["export"]["status"] == "DONE"

    def test_unknown_export_is_404(self, client: Client) -> None:
        reply = client.get("/exports/00000000-0000-4000-8000-000000000000")
        assert reply.status == 404
        assert reply.error["code"] == "404"


class TestCreateValidation:
    @pytest.mark.parametrize(
        ("body", "details"),
        [
            ({}, "Missing required attribute(s): 'marketplaceId'."),
            ({"dateStart": "2024-01-01"}, "Missing required attribute(s): 'marketplaceId'."),
            (
                {"marketplaceId": BR, "fileFormat": "PDF"},
                "Invalid fileFormat: 'PDF'. It must be XML.",
            ),
            ({"marketplaceId": BR, "statuses": []}, "Invalid attribute 'statuses'"),
            ({"marketplaceId": BR, "transactionIdentifier": {"name": "X"}}, "Invalid attribute"),
            ({"marketplaceId": BR, "dateStart": "soon"}, "Invalid dateStart: 'soon'."),
            ({"marketplaceId": BR, "limit": 1}, "Unknown attribute(s): 'limit'."),
            ([BR], "The request body must be a JSON object."),
        ],
    )
    def test_bad_bodies_are_400(self, client: Client, body: object, details: str) -> None:
        reply = client.post("/exports", body)
        assert reply.status == 400
        assert reply.error["message"] == UNPARSABLE
        assert reply.error["details"].startswith(details)

    def test_create_is_limited_to_one_per_six_seconds(self, clock: FakeClock) -> None:
        emu = start(clock)
        try:
            client = Client(emu, clock)
            created = client.post("/exports", {"marketplaceId": BR})
            assert created.status == 202
            assert created.headers["x-amzn-RateLimit-Limit"] == "0.1667"
            throttled = client.post("/exports", {"marketplaceId": BR})
            assert throttled.status == 429
            assert throttled.error["code"] == "QuotaExceeded"
            clock.advance(6.0)
            assert client.post("/exports", {"marketplaceId": BR}).status == 202
            stats = emu.stats()["operations"]["createInvoicesExport"]  # type: ignore[index]
            assert stats["by_status"] == {"202": 2, "429": 1}
        finally:
            emu.close()

    def test_export_list_bucket_is_twenty_then_one_per_ten_seconds(self, clock: FakeClock) -> None:
        emu = start(clock)
        try:
            client = Client(emu, clock)
            statuses = [client.get("/exports", marketplaceId=BR).status for _ in range(21)]
            assert statuses == [200] * 20 + [429]
            reply = client.get("/exports/unknown")
            assert reply.headers["x-amzn-RateLimit-Limit"] == "2.0"
            clock.advance(10.0)
            assert (
                client.get("/exports", marketplaceId=BR).headers["x-amzn-RateLimit-Limit"] == "0.1"
            )
        finally:
            emu.close()
