"""The connection check (``tap-spinvoices --config config.json --check``), before the first job.

For each selected stream it makes the smallest real call that proves the stream can sync:
the stream's own first page for one minute ending at ``end_date``, which takes an LWA access
token and, for getCustomerInvoices, a Restricted Data Token; getInvoicesExports for the
exports and for the NF-e streams fed by their documents; getInvoices for invoices. It prints
one line per stream, OK or the cause and the fix, and exits 1 if any stream failed. It writes
nothing on stdout: no RECORD, no STATE, no bookmark moves.

singer-sdk's ``--test`` cannot carry this: ``Tap.run_connection_test`` is final and syncs one
record a stream (RECORD and STATE messages included).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Final

import click

from tap_spinvoices.errors import SpinvoicesError
from tap_spinvoices.spapi.operations import OPERATIONS
from tap_spinvoices.sync.windowed_stream import WindowedStream
from tap_spinvoices.sync.windows import Window

if TYPE_CHECKING:
    from collections.abc import Mapping

    from singer_sdk import Stream

    from tap_spinvoices.settings import Settings
    from tap_spinvoices.sync.run_context import RunContext

PROBE_LENGTH: Final = timedelta(minutes=1)
CHECK_OPTION: Final = click.Option(
    ["--check"],
    is_flag=True,
    help=(
        "Check the connection before the first sync: one small real call per selected "
        "stream, one line each (OK, or the cause and the fix); exit 1 if any failed. "
        "Syncs nothing."
    ),
)
logger = logging.getLogger("tap-spinvoices")


@dataclass(frozen=True)
class StreamCheck:
    """What the check found for one selected stream."""

    stream: str
    probe: str  # the windowed stream whose first page was asked for
    calls: str  # what that took, e.g. "an LWA token, an RDT and getCustomerInvoices"
    error: str | None  # None: OK

    @property
    def line(self) -> str:
        """The one line printed for the stream."""
        if self.error is None:
            via = "" if self.probe == self.stream else f" (the {self.probe} call, which feeds it)"
            return f"{self.stream}: OK: {self.calls} over one minute{via}"
        return f"{self.stream}: FAILED: {self.error}"


def run_check(run: RunContext) -> int:
    """Check every selected stream, log one line each; 0 if all are OK, else 1."""
    checks = check_streams(run)
    for check in checks:
        if check.error is None:
            logger.info(check.line)
        else:
            logger.error(check.line)
    if not checks:
        logger.error("Connection check: no stream is selected. Fix: select streams in the catalog")
        return 1
    return 0 if all(check.error is None for check in checks) else 1


def check_streams(run: RunContext) -> list[StreamCheck]:
    """One StreamCheck per selected stream; each distinct probe is called once."""
    settings = run.settings
    end = settings.end_date
    window = Window(end - PROBE_LENGTH, end)
    errors: dict[str, str | None] = {}
    checks = []
    for stream in run.streams.values():
        if not stream.selected:
            continue
        probe = windowed_ancestor(stream, run.streams)
        if probe.name not in errors:
            errors[probe.name] = asyncio.run(first_page_error(run, probe, window))
        error = errors[probe.name]
        if error is not None:
            error += region_hint(settings, probe)
        checks.append(StreamCheck(stream.name, probe.name, calls(settings, probe), error))
    return checks


def calls(settings: Settings, stream: WindowedStream) -> str:
    """The calls a stream's first page takes: a token, an RDT where it needs one, the page."""
    restricted = any(op.restricted for op in OPERATIONS if op.name == stream.operation)
    rdt = ", an RDT" if restricted and settings.use_rdt else ""
    return f"an LWA token{rdt} and {stream.operation}"


def windowed_ancestor(stream: Stream, streams: Mapping[str, Stream]) -> WindowedStream:
    """The stream itself if it walks date windows, else the parent whose records feed it."""
    current = stream
    while not isinstance(current, WindowedStream):
        parent = current.parent_stream_type
        if parent is None:
            msg = f"{stream.name} has no windowed stream to check"
            raise TypeError(msg)
        # Stream classes set ``name`` as a class attribute; the SDK types it per instance.
        current = streams[str(getattr(parent, "name"))]  # noqa: B009
    return current


async def first_page_error(run: RunContext, stream: WindowedStream, window: Window) -> str | None:
    """The one-line error of the stream's first page over ``window``, or None when it answered."""
    partitions = stream.partitions
    context = partitions[0] if partitions else None  # the first party or marketplace
    try:
        async with run.open_connection(stream.default_region) as connection:
            pages = stream.window_pages(connection.client, window, context)
            try:
                await anext(aiter(pages), None)
            finally:
                if isinstance(pages, AsyncGenerator):
                    await pages.aclose()
    except SpinvoicesError as exc:
        return str(exc)
    return None


def region_hint(settings: Settings, stream: WindowedStream) -> str:
    """When ``region`` sends the stream to another host than its marketplace's: say so."""
    home = stream.default_region
    if settings.region is None or settings.region == home:
        return ""
    return (
        f". Also: region is {settings.region!r}, but {stream.name} is served by the {home!r} "
        f"host: unset region (each stream then calls its own) or set it to {home!r}"
    )
