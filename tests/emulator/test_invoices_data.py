"""Invoices API dataset, NF-e XML, ZIP building, pre-signed URLs and nextTokens (no server)."""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from xml.etree import ElementTree as ET

import pytest

from spapi_emulator import EmulatorConfig
from spapi_emulator.__main__ import build_parser, config_from_args
from spapi_emulator.invoices.data import (
    INVOICE_STATUSES,
    INVOICE_TYPES,
    TRANSACTION_TYPES,
    InvoiceFilter,
    InvoicesData,
)
from spapi_emulator.invoices.downloads import PresignedUrls, UrlCheck, zip_chunks
from spapi_emulator.invoices.exports import InvoicesApi
from spapi_emulator.invoices.nfe import nfe_xml
from spapi_emulator.invoices.query import PagePosition, PageTokens, parse_date

from .conftest import FakeClock
from .test_invoices_support import DATASET_START, WALL_START

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
NFE = "{http://www.portalfiscal.inf.br/nfe}"


def config(**changes: object) -> EmulatorConfig:
    return EmulatorConfig(**{"days": 10, "invoices_api_per_day": 20, **changes})  # type: ignore[arg-type]


def api(clock: FakeClock | None = None, **changes: object) -> InvoicesApi:
    return InvoicesApi(config(**changes), clock=clock or FakeClock(), wall_clock=lambda: WALL_START)


class TestInvoices:
    def test_each_day_has_the_configured_number_of_invoices_sorted_by_date(self) -> None:
        data = InvoicesData(config(invoices_api_per_day=7))
        assert len(data) == 70
        days = Counter((inv.date - DATASET_START).days for inv in data.invoices)
        assert days == dict.fromkeys(range(10), 7)
        keys = [(inv.date, inv.id) for inv in data.invoices]
        assert keys == sorted(keys)

    def test_dataset_is_a_pure_function_of_the_seed(self) -> None:
        first, again = InvoicesData(config()), InvoicesData(config())
        assert first.invoices == again.invoices
        assert first.history == again.history
        other = InvoicesData(config(seed=8))
        assert {i.id for i in other.invoices}.isdisjoint(i.id for i in first.invoices)

    def test_invoice_fields_follow_the_model(self) -> None:
        data = InvoicesData(config(days=30))
        for invoice in data.invoices:
            body = invoice.to_json()
            assert list(body) == [
                "date",
                "errorCode",
                "externalInvoiceId",
                "govResponse",
                "id",
                "invoiceType",
                "series",
                "status",
                "transactionIds",
                "transactionType",
            ]
            assert UUID.fullmatch(invoice.id)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(body["date"]))
            assert invoice.status in INVOICE_STATUSES
            assert invoice.invoice_type in INVOICE_TYPES
            assert invoice.transaction_type in TRANSACTION_TYPES
            assert invoice.transaction_ids[0].name == "BUSINESS_TRANSACTION_ID"
            rejected = invoice.status == "REJECTED"
            assert bool(invoice.error_code) == rejected == bool(invoice.gov_response)
        statuses = Counter(invoice.status for invoice in data.invoices)
        assert set(statuses) == set(INVOICE_STATUSES)
        assert statuses["AUTHORIZED"] > len(data) // 2

    def test_external_invoice_ids_count_up_per_series(self) -> None:
        data = InvoicesData(config())
        for series in {inv.series for inv in data.invoices}:
            numbers = [int(i.external_invoice_id) for i in data.invoices if i.series == series]
            assert numbers == list(range(100_001, 100_001 + len(numbers)))

    def test_select_is_inclusive_on_both_ends_and_filters(self) -> None:
        data = InvoicesData(config())
        target = data.invoices[5]
        assert data.select(target.date, target.date) == [
            inv for inv in data.invoices if inv.date == target.date
        ]
        only = InvoiceFilter(statuses=frozenset({"REJECTED"}), series=target.series)
        found = data.select(data.invoices[0].date, data.invoices[-1].date, only)
        assert found == [
            i for i in data.invoices if i.status == "REJECTED" and i.series == target.series
        ]
        name, value = target.transaction_ids[1].name, target.transaction_ids[1].id
        by_transaction = InvoiceFilter(transaction_identifier=(name, value))
        assert data.select(DATASET_START, WALL_START, by_transaction) == [target]


class TestExportHistory:
    def test_one_export_per_day_created_during_that_day(self) -> None:
        data = InvoicesData(config(days=30))
        assert [h.day for h in data.history] == list(range(30))
        for history in data.history:
            first, last = data.day_bounds(history.day)
            assert first <= history.created_at <= last
            assert history.created_at < history.started_at < history.finished_at
            assert (history.date_start, history.date_end) == (first, last)

    def test_most_are_done_a_few_error_and_the_latest_are_pending(self) -> None:
        data = InvoicesData(config(days=60, export_history_pending=3))
        outcomes = [h.outcome for h in data.history]
        assert outcomes[-3:] == ["PROCESSING", "PROCESSING", "REQUESTED"]
        counts = Counter(outcomes[:-3])
        assert counts["DONE"] > 40
        assert 1 <= counts["ERROR"] < 15
        errors = [h for h in data.history if h.outcome == "ERROR"]
        assert all(h.error_message for h in errors)
        assert all(not h.error_message for h in data.history if h.outcome != "ERROR")

    def test_documents_split_the_days_invoices(self) -> None:
        invoices_api = api(invoices_api_per_day=20, invoices_per_document=15)
        done = invoices_api.exports(DATASET_START, WALL_START, status="DONE")
        assert done
        for view in done:
            assert len(view.document_ids) == 2
            first, last = view.document_ids
            ids = invoices_api.document_invoice_ids(first)
            ids += invoices_api.document_invoice_ids(last)
            record = next(
                r
                for r in invoices_api.export_records(DATASET_START, WALL_START)
                if r.export_id == view.export_id
            )
            day_ids = [i.id for i in invoices_api.invoices(record.date_start, record.date_end)]
            assert ids == day_ids
            assert len(invoices_api.document_invoice_ids(first)) == 15

    def test_unknown_document_raises_key_error(self) -> None:
        with pytest.raises(KeyError):
            api().document_zip("nope")
        with pytest.raises(KeyError):
            api().export_status("nope")


class TestNfeXml:
    def test_xml_has_the_requested_size_and_parses(self) -> None:
        invoice = InvoicesData(config()).invoices[0]
        for size in (9000, 11000):
            xml = nfe_xml(invoice, seed=7, size=size)
            assert len(xml) == size
            root = ET.fromstring(xml)  # noqa: S314 - our own document
            assert root.tag == f"{NFE}nfeProc"

    def test_xml_carries_the_invoice_number_and_a_valid_access_key(self) -> None:
        invoice = InvoicesData(config()).invoices[3]
        root = ET.fromstring(nfe_xml(invoice, seed=7, size=0))  # noqa: S314
        assert root.findtext(f".//{NFE}nNF") == invoice.external_invoice_id
        key = root.findtext(f".//{NFE}chNFe") or ""
        assert re.fullmatch(r"\d{44}", key)
        weights = [2, 3, 4, 5, 6, 7, 8, 9]
        total = sum(int(d) * weights[i % 8] for i, d in enumerate(reversed(key[:43])))
        assert int(key[43]) == (0 if 11 - total % 11 >= 10 else 11 - total % 11)

    def test_xml_is_deterministic(self) -> None:
        invoice = InvoicesData(config()).invoices[0]
        assert nfe_xml(invoice, seed=7, size=3000) == nfe_xml(invoice, seed=7, size=3000)
        assert nfe_xml(invoice, seed=7, size=3000) != nfe_xml(invoice, seed=8, size=3000)


class TestZip:
    FILES: ClassVar = [
        (f"{n}.xml", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), b"x" * 5000) for n in "abc"
    ]

    def test_pieces_form_a_valid_deterministic_zip(self) -> None:
        pieces = list(zip_chunks(self.FILES))
        assert len(pieces) == len(self.FILES) + 1
        data = b"".join(pieces)
        assert data == b"".join(zip_chunks(self.FILES))
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.namelist() == ["a.xml", "b.xml", "c.xml"]
            assert archive.read("b.xml") == b"x" * 5000
            assert archive.testzip() is None
            assert archive.getinfo("a.xml").date_time == (2024, 1, 2, 3, 4, 4)

    def test_empty_zip_is_valid(self) -> None:
        with zipfile.ZipFile(io.BytesIO(b"".join(zip_chunks([])))) as archive:
            assert archive.namelist() == []


class TestPresignedUrls:
    def test_valid_until_the_ttl_then_expired(self) -> None:
        clock = FakeClock()
        urls = PresignedUrls(clock, lambda: WALL_START)
        url = urls.mint("http://127.0.0.1:1", "doc-1", 30.0)
        path, query = "/_s3/invoices-documents/doc-1.zip", dict(_query(url))
        assert "X-Amz-Expires=30&" in url
        assert "X-Amz-Date=20240115T000000Z" in url
        clock.advance(30.0)
        assert urls.check(path, query)[0] is UrlCheck.VALID
        clock.advance(0.01)
        assert urls.check(path, query)[0] is UrlCheck.EXPIRED

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("X-Amz-Signature", "0" * 64),
            ("X-Amz-Expires", "3600"),
            ("X-Amz-Date", "20990101T000000Z"),
        ],
    )
    def test_any_change_breaks_the_signature(self, name: str, value: str) -> None:
        urls = PresignedUrls(FakeClock(), lambda: WALL_START)
        query = dict(_query(urls.mint("http://h", "doc-1", 30.0)))
        query[name] = value
        assert urls.check("/_s3/invoices-documents/doc-1.zip", query)[0] is UrlCheck.BAD_SIGNATURE

    def test_signature_is_bound_to_the_document(self) -> None:
        urls = PresignedUrls(FakeClock(), lambda: WALL_START)
        query = dict(_query(urls.mint("http://h", "doc-1", 30.0)))
        verdict = urls.check("/_s3/invoices-documents/doc-2.zip", query)[0]
        assert verdict is UrlCheck.BAD_SIGNATURE
        assert urls.check("/_s3/invoices-documents/doc-1.zip", {})[0] is UrlCheck.UNSIGNED


def _query(url: str) -> list[tuple[str, str]]:
    from yarl import URL  # noqa: PLC0415 - test-only helper

    return list(URL(url).query.items())


class TestPageTokens:
    def test_round_trip_carries_the_query(self) -> None:
        tokens = PageTokens(FakeClock())
        position = PagePosition({"marketplaceId": "A", "pageSize": "5"}, 10, emptied=True)
        token = tokens.encode("getInvoices", position)
        assert token.startswith("+/")
        assert tokens.decode("getInvoices", token, None) == position

    def test_foreign_tampered_and_expired_tokens_are_refused(self) -> None:
        clock = FakeClock()
        tokens = PageTokens(clock)
        token = tokens.encode("getInvoices", PagePosition({"marketplaceId": "A"}, 1))
        assert tokens.decode("getInvoicesExports", token, None) is None
        assert tokens.decode("getInvoices", token[:-4] + "AAAA", None) is None
        assert tokens.decode("getInvoices", "not base64!", None) is None
        assert PageTokens(clock).decode("getInvoices", token, None) is None
        clock.advance(31)
        assert tokens.decode("getInvoices", token, 30.0) is None
        assert tokens.decode("getInvoices", token, 60.0) is not None


@pytest.mark.parametrize(
    ("text", "end_of_day", "expected"),
    [
        ("2024-07-01T00:00:00", False, datetime(2024, 7, 1, tzinfo=UTC)),
        ("2024-07-10T23:59:59.000Z", False, datetime(2024, 7, 10, 23, 59, 59, tzinfo=UTC)),
        ("2024-07-01T03:00:00+03:00", False, datetime(2024, 7, 1, tzinfo=UTC)),
        ("2024-07-01", False, datetime(2024, 7, 1, tzinfo=UTC)),
        ("2024-07-01", True, datetime(2024, 7, 1, 23, 59, 59, 999_000, tzinfo=UTC)),
        ("2024-02-30", False, None),
        ("yesterday", False, None),
    ],
)
def test_invoices_api_dates_accept_the_models_examples(
    text: str, end_of_day: bool, expected: datetime | None
) -> None:
    assert parse_date(text, end_of_day=end_of_day) == expected


@pytest.mark.parametrize(
    "changes",
    [
        {"invoices_api_per_day": -1},
        {"invoices_per_document": 0},
        {"nfe_xml_bytes": -1},
        {"export_history_pending": -1},
        {"export_queue_seconds": -1.0},
        {"document_url_ttl": 0.0},
        {"export_error_rate": 1.5},
        {"invoices_empty_page_rate": -0.1},
    ],
)
def test_invalid_invoices_api_config_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        EmulatorConfig(**changes)  # type: ignore[arg-type]


def test_cli_flags_set_the_invoices_api_fields() -> None:
    args = build_parser().parse_args(
        [
            "--invoices-api-per-day=5",
            "--nfe-xml-bytes=4000",
            "--invoices-per-document=3",
            "--export-history-error-rate=0.5",
            "--export-history-pending=0",
            "--export-queue-seconds=1",
            "--export-processing-seconds=2",
            "--export-error-rate=0.25",
            "--document-url-ttl=10",
            "--invoices-empty-page-rate=0",
            "--no-nfe-cancellation-events",
            "--nfe-malformed-rate=0.5",
            "--document-body=broken",
        ]
    )
    settings = config_from_args(args)
    assert not settings.nfe_cancellation_events
    assert (settings.nfe_malformed_rate, settings.document_body) == (0.5, "broken")
    assert (settings.invoices_api_per_day, settings.nfe_xml_bytes) == (5, 4000)
    assert (settings.invoices_per_document, settings.export_history_pending) == (3, 0)
    assert (settings.export_queue_seconds, settings.export_processing_seconds) == (1.0, 2.0)
    assert (settings.export_error_rate, settings.export_history_error_rate) == (0.25, 0.5)
    assert (settings.document_url_ttl, settings.invoices_empty_page_rate) == (10.0, 0.0)


def test_history_pending_exports_finish_on_the_scaled_schedule() -> None:
    clock = FakeClock()
    invoices_api = api(clock, export_queue_seconds=30.0, export_processing_seconds=120.0)
    newest, previous = invoices_api.data.history[-1], invoices_api.data.history[-2]
    assert invoices_api.export_status(newest.export_id) == "REQUESTED"
    assert invoices_api.export_status(previous.export_id) == "PROCESSING"
    clock.advance(120.0)
    assert invoices_api.export_status(previous.export_id) == "DONE"
    assert invoices_api.export_status(newest.export_id) == "PROCESSING"
    clock.advance(30.0)
    assert invoices_api.export_status(newest.export_id) == "DONE"
    view = invoices_api.export(newest.export_id)
    assert view is not None
    assert view.document_ids
    assert view.finished_at == newest.finished_at
    assert newest.finished_at - newest.started_at < timedelta(minutes=16)
