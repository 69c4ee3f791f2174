"""ISO 8601 date-times as settings and state hold them: one parser, always UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tap_spinvoices.isotime import parse_datetime


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T02:30:00+02:30", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T00:00:00", datetime(2024, 1, 1, tzinfo=UTC)),  # naive: taken as UTC
        ("2024-01-01 00:00:00.5", datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_a_date_time_is_read_as_an_instant_in_utc(text, expected):
    parsed = parse_datetime(text)

    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["2024-01-01", "yesterday", "", "2024-13-01T00:00:00Z"])
def test_a_date_without_a_time_or_not_a_date_is_refused(text):
    with pytest.raises(ValueError, match=r"."):
        parse_datetime(text)
