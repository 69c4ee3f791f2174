"""Time as the emulator handles it: SP-API's ISO 8601 date-times, and exact microseconds.

ISO 8601 as SP-API accepts it: ``yyyy-MM-ddTHH:mm:ss[.sss](Z|±hh:mm)``. Both datasets index
their invoices by integer microseconds since the epoch (``to_micros``), exact where float
timestamps are not.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# SP-API's ISO 8601 profile ("ISO 8601" docs page): a "T", seconds, optional fraction, and a
# "Z" or "±hh:mm" offset; truncated forms and offset-less times are rejected. A "+" offset that
# was not URL-encoded arrives as a space and fails here, as it does on the real service.
_ISO_8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MAX_OFFSET_HOURS = 23
_MAX_OFFSET_MINUTES = 59
_MICRO_DIGITS = 6


def parse_iso8601(text: str) -> datetime | None:
    """Return the aware datetime of an SP-API date-time, or None if it is not one.

    Args:
        text: The query value.

    Returns:
        The moment (fractions beyond microseconds are truncated), or None.

    """
    match = _ISO_8601.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction, zulu, sign, off_hours, off_minutes = match.group(7, 8, 9, 10, 11)
    micros = int((fraction or "0")[:_MICRO_DIGITS].ljust(_MICRO_DIGITS, "0"))
    if zulu:
        tz: timezone = UTC
    else:
        hours, minutes = int(off_hours), int(off_minutes)
        if hours > _MAX_OFFSET_HOURS or minutes > _MAX_OFFSET_MINUTES:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
    except ValueError:
        return None


def format_iso8601(moment: datetime) -> str:
    """Return an aware datetime as SP-API's canonical UTC form, ``yyyy-MM-ddTHH:mm:ss.sssZ``.

    Args:
        moment: An aware datetime (milliseconds are kept, finer digits dropped).

    Returns:
        The text, e.g. ``2024-01-01T00:00:00.000Z``.

    """
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def to_micros(moment: datetime) -> int:
    """Return an aware datetime as integer microseconds since the Unix epoch (exact).

    Args:
        moment: An aware datetime.

    Returns:
        Microseconds since 1970-01-01T00:00:00Z.

    """
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """Return the aware UTC datetime of integer microseconds since the Unix epoch.

    Args:
        micros: Microseconds since 1970-01-01T00:00:00Z.

    Returns:
        The moment as an aware UTC datetime.

    """
    return _EPOCH + timedelta(microseconds=micros)
