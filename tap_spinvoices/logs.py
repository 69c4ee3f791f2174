"""What the tap's log says, and at which level: quiet on success, one clear line on failure.

singer-sdk writes a few lines that alarm or tell a user nothing:

- "An unhandled error occurred while syncing '<stream>'" at ERROR before it re-raises. For
  the tap's own errors main() prints the one line that names the fix, and for the record
  limit of ``--test`` (the SDK's dry run, which stops each stream after one record on
  purpose) nothing failed at all. Both are dropped; any other exception (a bug) keeps it.
- "Skipping parse of env var settings..." / "Parsing env var for settings config...", and
  "Added '<child>' as child stream to '<parent>'": start-up details, moved to DEBUG.

METRIC lines (singer-sdk's ``singer_sdk.metrics`` logger) follow the ``metrics_log_level``
setting: ``INFO`` (the SDK's default) shows them, ``WARNING`` hides them.

Under Meltano, the ``structured-logging`` capability (meltano.yml) makes Meltano hand the SDK a
logging config with the SDK's JSON formatter and read each line's level from it, so a WARNING
stays a warning in Meltano's log (tests/e2e/test_logs.py).
"""

from __future__ import annotations

import logging
import sys
from typing import Final

from singer_sdk.exceptions import AbortedSyncExceptionBase, MaxRecordsLimitException
from singer_sdk.metrics import get_metrics_logger
from typing_extensions import override

from tap_spinvoices.errors import SpinvoicesError

SDK_FAILURE_LINE: Final = "An unhandled error occurred while syncing"
# singer-sdk start-up lines that say nothing a user acts on (message prefixes).
START_UP_DETAILS: Final = (
    "Skipping parse of env var settings",
    "Parsing env var for settings config",
    "Added '",  # "Added '<child>' as child stream to '<parent>'"
)


def quiet_start_up(logger: logging.Logger) -> None:
    """Demote singer-sdk's start-up details on ``logger`` (the tap's) to DEBUG; idempotent."""
    if not any(isinstance(f, _DemoteToDebug) for f in logger.filters):
        logger.addFilter(_DemoteToDebug(logger))


def drop_expected_failure_lines(stream_logger: logging.Logger) -> None:
    """Drop the SDK's failure line on a stream's logger when nothing unexpected failed."""
    if drop_expected_failure_line not in stream_logger.filters:
        stream_logger.addFilter(drop_expected_failure_line)


def drop_expected_failure_line(record: logging.LogRecord) -> bool:
    """False for the SDK's "unhandled error" line after a SpinvoicesError or --test's limit."""
    if record.levelno < logging.ERROR or not str(record.msg).startswith(SDK_FAILURE_LINE):
        return True
    return not is_expected(sys.exc_info()[1])


def is_expected(exc: BaseException | None) -> bool:
    """A failure that already has its own line (SpinvoicesError) or is --test's record limit."""
    if isinstance(exc, SpinvoicesError):
        return True
    return isinstance(exc, AbortedSyncExceptionBase) and isinstance(
        exc.__cause__, MaxRecordsLimitException
    )


def apply_metrics_level(level: str) -> None:
    """Show METRIC lines at ``INFO``; hide them at ``WARNING`` (singer_sdk.metrics' level).

    The SDK sets that logger's level from ``<TAP>_LOGLEVEL`` when the tap is built; the
    setting is applied after that, so it wins.
    """
    get_metrics_logger().setLevel(level)


class _DemoteToDebug(logging.Filter):
    """Relabel START_UP_DETAILS lines as DEBUG, and drop them unless DEBUG is enabled."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.owner = logger

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not str(record.msg).startswith(START_UP_DETAILS):
            return True
        if not self.owner.isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True
