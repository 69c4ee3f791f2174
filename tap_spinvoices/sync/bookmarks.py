"""Bookmarks: reading, checking and writing the createdAfter cursor kept in Singer state.

A bookmark value B means "every invoice created before B has been written". The tap only
moves it to the end of a window after the last record of that window (and of every window
before it) was handed to the SDK, so a STATE message never claims an unwritten window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from tap_spinvoices.errors import StateError
from tap_spinvoices.isotime import parse_datetime

# The record field the bookmark is named after: the start of the request window.
REPLICATION_KEY: Final = "window_start"


def format_instant(moment: datetime) -> str:
    """One fixed text form for instants in records and state (UTC, whole seconds)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def read_bookmark(partition_state: dict[str, Any], where: str) -> datetime | None:
    """The bookmark stored in one stream/partition state dict, or None when there is none."""
    value = partition_state.get("replication_key_value")
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            pass
    msg = (
        f"State error in {where}: replication_key_value {value!r} is not an ISO 8601 "
        "date-time. Fix: correct it (e.g. 2024-01-01T00:00:00+00:00) or drop that bookmark"
    )
    raise StateError(msg)


def refuse_future_bookmark(bookmark: datetime, now: datetime, where: str) -> None:
    """Refuse a bookmark later than now: nothing can have been written up to the future.

    Such a state comes from a clock that ran ahead, or was edited; a run from it would sync
    nothing, silently, until that instant came, and then skip what was created meanwhile.

    Raises:
        StateError: One line naming the stream, the partition, the value and the fix.

    """
    if bookmark <= now:
        return
    msg = (
        f"State error in {where}: replication_key_value {format_instant(bookmark)} is later "
        f"than now ({format_instant(now)}): a bookmark says everything before it was written, "
        "so this state comes from a clock that ran ahead or was edited, and a run from it "
        "would sync nothing until then. Fix: set it to the end of the last run you trust, "
        "or drop that bookmark to sync from start_date"
    )
    raise StateError(msg)


def resume_start(bookmark: datetime | None, start_date: datetime, lookback: timedelta) -> datetime:
    """Where a run starts: the bookmark less the lookback, never before ``start_date``."""
    if bookmark is None:
        return start_date
    return max(bookmark - lookback, start_date)


def write_bookmark(partition_state: dict[str, Any], moment: datetime) -> None:
    """Record that every invoice created before ``moment`` has been written."""
    partition_state["replication_key"] = REPLICATION_KEY
    partition_state["replication_key_value"] = format_instant(moment)
