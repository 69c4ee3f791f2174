"""Specifications of the date-window planner."""

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tap_spinvoices.sync.windows import (
    BOUNDARY_OVERLAP,
    MAX_REQUEST_RANGE,
    Window,
    api_timestamp,
    plan_windows,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _plan(days: float, *, max_hours: int = 24, min_count: int = 1) -> list[Window]:
    return plan_windows(
        T0, T0 + timedelta(days=days), max_length=timedelta(hours=max_hours), min_count=min_count
    )


@pytest.mark.parametrize(
    ("days", "max_hours", "min_count", "expected_count"),
    [
        (1, 24, 1, 1),
        (90, 24, 1, 90),
        (90, 24, 16, 90),
        (1, 24, 16, 16),
        (0.25, 24, 16, 16),  # 6 h / 16 = 22.5 min, still above the 15 min floor
        (0.1, 24, 16, 9),  # 2.4 h: no window shorter than 15 minutes
        (30, 168, 1, 5),  # 7-day cap less the boundary overlap: 30 days need 5 windows
        (7, 168, 1, 2),  # exactly 7 days + overlap would exceed Amazon's range
    ],
)
def test_window_count_follows_length_cap_and_parallelism(
    days, max_hours, min_count, expected_count
):
    assert len(_plan(days, max_hours=max_hours, min_count=min_count)) == expected_count


@pytest.mark.parametrize("days", [0.01, 1, 6.5, 7, 8, 45, 366])
def test_windows_are_contiguous_ascending_and_cover_the_range(days):
    windows = _plan(days, max_hours=168, min_count=16)
    assert windows[0].start == T0
    assert windows[-1].end == T0 + timedelta(days=days)
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start


def test_window_longer_than_seven_days_is_split():
    for window in _plan(30, max_hours=168):
        assert window.created_before - window.created_after <= MAX_REQUEST_RANGE


def test_request_starts_one_overlap_before_the_window():
    window = _plan(1)[0]
    assert window.created_after == T0 - BOUNDARY_OVERLAP
    assert window.created_before == T0 + DAY


@pytest.mark.parametrize(
    "delta", [timedelta(0), timedelta(seconds=-5), timedelta(milliseconds=300)]
)
def test_empty_or_sub_second_range_has_no_window(delta):
    assert plan_windows(T0, T0 + delta, max_length=DAY) == []


def test_ends_are_floored_to_whole_seconds():
    windows = plan_windows(
        T0 + timedelta(milliseconds=700), T0 + timedelta(hours=1, milliseconds=900), max_length=DAY
    )
    assert windows == [Window(T0, T0 + timedelta(hours=1))]


def test_api_timestamp_is_utc_with_milliseconds_and_z():
    moment = datetime(2024, 3, 1, 5, 30, 1, 123456, tzinfo=timezone_plus_two())
    assert api_timestamp(moment) == "2024-03-01T03:30:01.123Z"


def timezone_plus_two():
    return timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("start", "end", "min_count"),
    [
        (T0 + timedelta(hours=23), T0 + timedelta(days=1, hours=1), 1),
        (T0 + timedelta(hours=23), T0 + timedelta(days=1, hours=1), 16),
        (T0 + timedelta(hours=5, minutes=7), T0 + timedelta(days=9, hours=3), 16),
        (T0, T0 + timedelta(days=30), 1),
    ],
)
def test_windows_within_utc_days_never_cross_a_midnight_and_still_cover_the_range(
    start, end, min_count
):
    windows = plan_windows(
        start, end, max_length=timedelta(hours=24), min_count=min_count, within_utc_days=True
    )

    assert windows[0].start == start
    assert windows[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert all(w.start.date() == (w.end - timedelta(microseconds=1)).date() for w in windows)
    assert all(w.end - w.start <= timedelta(hours=24) for w in windows)


def test_a_window_across_midnight_is_cut_there_when_within_utc_days():
    start, end = T0 + timedelta(hours=22), T0 + timedelta(hours=26)

    whole = plan_windows(start, end, max_length=timedelta(hours=24))
    cut = plan_windows(start, end, max_length=timedelta(hours=24), within_utc_days=True)

    assert whole == [Window(start, end)]
    assert cut == [Window(start, T0 + DAY), Window(T0 + DAY, end)]
