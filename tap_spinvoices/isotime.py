"""ISO 8601 date-times as users write them in settings and Singer state holds them.

One parser for the settings (start_date, end_date), the bookmarks in state, and the
window bounds the streams keep in their own state entries.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 date-time; naive values are taken as UTC. Raises ``ValueError``."""
    parsed = datetime.fromisoformat(value)
    if "T" not in value.upper() and " " not in value:
        msg = "a date-time needs a time part"
        raise ValueError(msg)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
