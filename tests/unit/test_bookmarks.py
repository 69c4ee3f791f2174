"""Specifications of bookmark reading, resuming and writing."""

from datetime import UTC, datetime, timedelta

import pytest

from tap_spinvoices.errors import StateError
from tap_spinvoices.sync.bookmarks import (
    format_instant,
    read_bookmark,
    refuse_future_bookmark,
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


@pytest.mark.parametrize(
    "bookmark", [START - HOUR, START, START - timedelta(days=400)], ids=["past", "now", "old"]
)
def test_a_bookmark_up_to_now_is_accepted(bookmark):
    refuse_future_bookmark(bookmark, START, "bookmarks.customer_invoices")


def test_a_bookmark_later_than_now_is_refused_naming_where_the_value_and_the_fix():
    with pytest.raises(StateError) as caught:
        refuse_future_bookmark(START + timedelta(seconds=1), START, "bookmarks.invoices")
    assert str(caught.value) == (
        "State error in bookmarks.invoices: replication_key_value 2024-01-01T00:00:01+00:00 is "
        "later than now (2024-01-01T00:00:00+00:00): a bookmark says everything before it was "
        "written, so this state comes from a clock that ran ahead or was edited, and a run "
        "from it would sync nothing until then. Fix: set it to the end of the last run you "
        "trust, or drop that bookmark to sync from start_date"
    )


def test_a_key_missing_from_amazons_answer_is_de_duplicated_by_its_substitute_not_by_none():
    # Null purchase order numbers were once de-duplicated on None: 3 of 172 were written.
    from tap_spinvoices.streams.customer_invoices import substitute_key  # noqa: PLC0415

    dedup = AdjacentWindowDeduplicator()
    keys = [substitute_key(f"pdf {n}") for n in range(172)]
    assert sum(dedup.is_new(key) for key in keys) == 172
