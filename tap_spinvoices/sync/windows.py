"""Date windows: cutting [start, end) into the request ranges a windowed stream asks Amazon for."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

# The getCustomerInvoices model says the date range to search must be no more than 7 days.
MAX_REQUEST_RANGE: Final = timedelta(days=7)

# createdAfter/createdBefore read as strict bounds ("after", "before"). Each request starts this
# much before its window, so an invoice stamped exactly on a window's start is still returned
# (by this window, whether Amazon compares strictly or not); the overlap's repeats are dropped
# by the de-duplication of adjacent windows (dedup.py).
BOUNDARY_OVERLAP: Final = timedelta(seconds=1)

# Splitting below this length buys no parallelism worth its extra requests.
MIN_SPLIT_LENGTH: Final = timedelta(minutes=15)


@dataclass(frozen=True, order=True)
class Window:
    """A half-open range [start, end) of invoice creation times, in UTC."""

    start: datetime
    end: datetime

    @property
    def created_after(self) -> datetime:
        """The createdAfter sent to Amazon: the start, less the boundary overlap."""
        return self.start - BOUNDARY_OVERLAP

    @property
    def created_before(self) -> datetime:
        """The createdBefore sent to Amazon: the (exclusive) end."""
        return self.end


def plan_windows(
    start: datetime,
    end: datetime,
    *,
    max_length: timedelta,
    min_count: int = 1,
    within_utc_days: bool = False,
) -> list[Window]:
    """Cut [start, end) into equal whole-second windows, contiguous and ascending.

    There are at least enough windows that none is longer than ``max_length`` (capped so the
    request range, overlap included, stays within Amazon's 7 days), and at least ``min_count``
    when the range is long enough, so that a short range is still fetched by several requests
    at once rather than one chain of pages. Both ends are floored to whole seconds: the
    sub-second tail of ``end`` is picked up by the next run, which starts at this run's end.

    With ``within_utc_days``, a window that would cross a UTC midnight is cut there too, so
    every window lies within one UTC day and names the day its invoices were created on
    (the archive files them by that day, and a re-run must name them alike).
    """
    start, end = _floor_second(start), _floor_second(end)
    total = (end - start).total_seconds()
    if total <= 0:
        return []
    longest = min(max_length, MAX_REQUEST_RANGE - BOUNDARY_OVERLAP).total_seconds()
    by_length = math.ceil(total / longest)
    by_parallelism = min(min_count, math.floor(total / MIN_SPLIT_LENGTH.total_seconds()))
    count = max(by_length, by_parallelism, 1)
    step = timedelta(seconds=math.ceil(total / count))
    windows: list[Window] = []
    cursor = start
    while cursor < end:
        upper = min(cursor + step, end)
        if within_utc_days:
            upper = min(upper, _next_utc_midnight(cursor))
        windows.append(Window(cursor, upper))
        cursor = upper
    return windows


def _next_utc_midnight(moment: datetime) -> datetime:
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1)


def api_timestamp(moment: datetime) -> str:
    """Format an instant the way SP-API documents it: ``2024-01-01T00:00:00.000Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _floor_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)
