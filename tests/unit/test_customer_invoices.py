"""Specifications of getCustomerInvoices paging, parsing and records (no network)."""

import asyncio
import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from tap_spinvoices.errors import ApiError, ExpiredNextTokenError
from tap_spinvoices.streams.customer_invoices import (
    build_record,
    history_warning,
    months_before,
    parse_page,
    window_fields,
    window_pages,
)
from tap_spinvoices.sync.windows import Window

WINDOW = Window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
PDF = b"%PDF-1.4 fake"
CONTENT = base64.b64encode(PDF).decode()


def invoice(po: str) -> dict:
    return {"purchaseOrderNumber": po, "content": CONTENT}


class FakeClient:
    """Answers scripted pages and records every query it was asked."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.queries = []
        self.bounds = []  # max_bytes of each call

    async def get_json(self, operation, path, params, *, restricted=False, max_bytes=None):
        self.queries.append((operation, path, dict(params), restricted))
        self.bounds.append(max_bytes)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def collect(client, version="2021-12-28", party=None):
    async def run():
        return [
            page async for page in window_pages(client, WINDOW, party=party, api_version=version)
        ]

    return asyncio.run(run())


def expired() -> ExpiredNextTokenError:
    return ExpiredNextTokenError(
        operation="getCustomerInvoices",
        status=400,
        code="InvalidInput",
        message="Next token is invalid or expired",
        request_id="r1",
    )


def test_pages_follow_next_token_repeating_every_original_parameter():
    client = FakeClient(
        [
            {"customerInvoices": [invoice("PO1")], "pagination": {"nextToken": "a+b/c=="}},
            {"customerInvoices": [invoice("PO2")]},
        ]
    )
    pages = collect(client, party="WH1")

    assert [[r["purchaseOrderNumber"] for r in records] for records, _ in pages] == [
        ["PO1"],
        ["PO2"],
    ]
    first, second = client.queries[0][2], client.queries[1][2]
    assert first == {
        "createdAfter": "2023-12-31T23:59:59.000Z",
        "createdBefore": "2024-01-02T00:00:00.000Z",
        "limit": 100,
        "sortOrder": "ASC",
        "shipFromPartyId": "WH1",
    }
    assert second == {**first, "nextToken": "a+b/c=="}
    assert all(q[0] == "getCustomerInvoices" and q[3] is True for q in client.queries)
    assert client.queries[0][1] == "/vendor/directFulfillment/shipping/2021-12-28/customerInvoices"


def test_v1_responses_are_unwrapped_from_payload():
    client = FakeClient([{"payload": {"customerInvoices": [invoice("PO9")]}}])
    pages = collect(client, version="v1")

    assert pages[0][0][0]["purchaseOrderNumber"] == "PO9"
    assert client.queries[0][1] == "/vendor/directFulfillment/shipping/v1/customerInvoices"


def test_refused_next_token_restarts_the_window_from_its_first_page():
    client = FakeClient(
        [
            {"customerInvoices": [invoice("PO1")], "pagination": {"nextToken": "t1"}},
            expired(),
            {"customerInvoices": [invoice("PO1")], "pagination": {"nextToken": "t2"}},
            {"customerInvoices": [invoice("PO2")]},
        ]
    )
    pages = collect(client)

    assert [r["purchaseOrderNumber"] for records, _ in pages for r in records] == [
        "PO1",
        "PO1",
        "PO2",
    ]
    assert "nextToken" not in client.queries[2][2]


def test_window_whose_tokens_keep_expiring_fails_after_three_restarts():
    first_page = {"customerInvoices": [], "pagination": {"nextToken": "t"}}
    client = FakeClient([first_page, expired()] * 4)
    with pytest.raises(ExpiredNextTokenError):
        collect(client)


def test_response_without_the_model_shape_is_an_error_not_an_empty_page():
    client = FakeClient([{"customerInvoices": [{"purchaseOrderNumber": "PO1"}]}])
    with pytest.raises(ApiError, match="does not match the model"):
        collect(client)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"customerInvoices": [], "pagination": {}}, ([], None)),
        ({"payload": {"pagination": {"nextToken": "x"}}}, ([], "x")),
    ],
)
def test_page_parsing_tolerates_empty_lists_and_missing_pagination(body, expected):
    assert parse_page(body) == expected


@pytest.mark.parametrize("body", [{}, {"payload": {}}, {"errors": []}])
def test_a_body_with_neither_list_nor_pagination_is_not_an_empty_page(body):
    assert parse_page(body) is None


def test_record_keeps_content_as_returned_and_describes_the_pdf():
    record = build_record(invoice("PO1"), window_fields(WINDOW, "WH1", "v1"))

    assert record == {
        "purchaseOrderNumber": "PO1",
        "content": CONTENT,
        "content_sha256": hashlib.sha256(PDF).hexdigest(),
        "content_bytes": len(PDF),
        "window_start": "2024-01-01T00:00:00+00:00",
        "window_end": "2024-01-02T00:00:00+00:00",
        "ship_from_party_id": "WH1",
        "api_version": "v1",
    }


@pytest.mark.parametrize(
    ("digests", "fields"),
    [
        (frozenset(), set()),
        (frozenset({"content_bytes"}), {"content_bytes"}),
        (frozenset({"content_sha256"}), {"content_sha256"}),
    ],
)
def test_only_the_digests_asked_for_are_computed(digests, fields):
    record = build_record(invoice("PO1"), window_fields(WINDOW, None, "v1"), digests)
    assert set(record) & {"content_sha256", "content_bytes"} == fields
    assert record["content"] == CONTENT


def test_base64_broken_by_line_breaks_still_describes_the_pdf():
    pdf = PDF * 20
    text = base64.b64encode(pdf).decode()
    wrapped = "\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    assert wrapped.count("\n") == 4
    record = build_record({"purchaseOrderNumber": "PO1", "content": wrapped}, {})
    assert record["content"] == wrapped
    assert record["content_sha256"] == hashlib.sha256(pdf).hexdigest()
    assert record["content_bytes"] == len(pdf)


@pytest.mark.parametrize("content", ["not base64!", "abc", "QUJD====", "é"])
def test_content_that_is_not_base64_is_kept_with_null_hash(content):
    record = build_record({"purchaseOrderNumber": "PO1", "content": content}, {})
    assert record["content"] == content
    assert record["content_sha256"] is None
    assert record["content_bytes"] is None


def test_window_end_is_exclusive_and_requests_stay_within_seven_days():
    week = Window(WINDOW.start, WINDOW.start + timedelta(days=7) - timedelta(seconds=1))
    assert week.created_before - week.created_after == timedelta(days=7)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 11, 30, 13, 5), utc(2026, 5, 30, 13, 5)),
        (utc(2024, 8, 31), utc(2024, 2, 29)),  # a short month: its last day
        (utc(2025, 8, 31), utc(2025, 2, 28)),
        (utc(2026, 3, 15), utc(2025, 9, 15)),  # across a year
        (utc(2026, 6, 1), utc(2025, 12, 1)),
        (utc(2026, 12, 31), utc(2026, 6, 30)),
    ],
)
def test_six_calendar_months_before_now_keeps_the_time_and_clamps_the_day(now, expected):
    assert months_before(now, 6) == expected


NOW = utc(2026, 11, 30, 12)


@pytest.mark.parametrize(
    ("start", "warns"),
    [
        (utc(2024, 1, 1), True),
        (utc(2026, 5, 30, 12) - timedelta(seconds=1), True),  # a second before six months
        (utc(2026, 5, 30, 12), False),  # exactly six months: still kept
        (utc(2026, 11, 1), False),
        (utc(2026, 11, 30, 11), False),
    ],
)
def test_a_range_starting_before_the_last_six_months_is_warned_about(start, warns):
    line = history_warning(start, NOW)
    assert (line is not None) == warns
    if line is not None:
        assert line.startswith(
            f"customer_invoices: the sync range starts at {start.isoformat()}, more than 6 "
            "months before now. Windows before 2026-05-30T12:00:00+00:00 may come back empty"
        )
        assert "rolling window of the last six months" in line
        assert "\n" not in line
