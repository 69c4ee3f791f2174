"""SP-API's ISO 8601 profile: which date-times getCustomerInvoices accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from spapi_emulator.isotime import format_iso8601, parse_iso8601

IST = timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T00:00:00.123Z", datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)),
        ("2024-01-01T00:00:00.1234567Z", datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2024-01-01T05:30:00+05:30", datetime(2024, 1, 1, 5, 30, tzinfo=IST)),
        ("2020-02-15T14:00:00-08:00", datetime(2020, 2, 15, 22, 0, tzinfo=UTC)),
    ],
)
def test_accepted_date_times(text: str, expected: datetime) -> None:
    assert parse_iso8601(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01",  # date only
        "2024-01-01T00:00:00",  # no offset
        "2024-01-01T00:00Z",  # truncated: no seconds
        "2024-01-01 00:00:00Z",  # space instead of T
        "2024-01-01T00:00:00 05:30",  # "+" not URL-encoded
        "2024-01-01T00:00:00+0530",  # offset without colon
        "2024-13-01T00:00:00Z",  # no such month
        "2024-01-01T00:00:00+24:00",  # no such offset
        "2019-09-2100:00:00",  # the static sandbox's malformed example
        "2024-01-01t00:00:00z",  # lower case
        "",
    ],
)
def test_rejected_date_times(text: str) -> None:
    assert parse_iso8601(text) is None


def test_format_is_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2024, 1, 1, 5, 30, 0, 987654, tzinfo=IST)
    assert format_iso8601(moment) == "2024-01-01T00:00:00.987Z"
    assert parse_iso8601(format_iso8601(moment)) == moment.replace(microsecond=987000)
