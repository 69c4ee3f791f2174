"""Specifications of bookmark reading, resuming and writing."""

from datetime import UTC, datetime, timedelta

import pytest

from tap_spinvoices.errors import StateError
from tap_spinvoices.sync.bookmarks import (
    format_instant,
    read_bookmark,
    resume_start,
    write_bookmark,
)
from tap_spinvoices.sync.dedup import AdjacentWindowDeduplicator

START = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("bookmark", "lookback", "expected"),
    [
        (None, HOUR, START),
        (START + 10 * HOUR, HOUR, START + 9 * HOUR),
        (START + 10 * HOUR, timedelta(0), START + 10 * HOUR),
        (START + 30 * timedelta(minutes=1), HOUR, START),  # lookback never goes before start_date
        (START - HOUR, HOUR, START),  # a bookmark older than start_date: start_date wins
    ],
)
def test_run_starts_at_bookmark_less_lookback_but_not_before_start_date(
    bookmark, lookback, expected
):
    assert resume_start(bookmark, START, lookback) == expected


def test_written_bookmark_reads_back_as_the_same_instant():
    state: dict[str, object] = {}
    write_bookmark(state, START + HOUR)
    assert state == {
        "replication_key": "window_start",
        "replication_key_value": "2024-01-01T01:00:00+00:00",
    }
    assert read_bookmark(state, "customer_invoices") == START + HOUR


def test_missing_bookmark_reads_as_none():
    assert read_bookmark({}, "customer_invoices") is None


@pytest.mark.parametrize("value", ["yesterday", 12, "2024-13-01T00:00:00Z", ["2024-01-01"]])
def test_unreadable_bookmark_is_a_state_error_naming_the_place(value):
    with pytest.raises(StateError, match=r"customer_invoices.*replication_key_value"):
        read_bookmark({"replication_key_value": value}, "customer_invoices")


def test_instants_are_written_in_one_fixed_form():
    assert (
        format_instant(datetime(2024, 1, 1, 2, 3, 4, 999, tzinfo=UTC))
        == "2024-01-01T02:03:04+00:00"
    )


def test_key_repeated_in_next_window_is_dropped_but_not_two_windows_later():
    dedup = AdjacentWindowDeduplicator()
    assert dedup.is_new("PO1")
    assert not dedup.is_new("PO1")
    dedup.next_window()
    assert not dedup.is_new("PO1")  # overlap with the previous window
    assert dedup.is_new("PO2")
    dedup.next_window()
    dedup.next_window()
    assert dedup.is_new("PO1")  # memory holds two windows, not the history
