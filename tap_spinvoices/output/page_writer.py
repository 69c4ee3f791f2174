"""Writing whole pages of records to stdout, past the SDK's per-record path, when it is the same.

For every record the SDK runs ``post_process``, ``_process_record``, a copy-and-pop of
deselected properties, type conformance, every stream map, a ``RecordMessage``, the writer
and ``increment_state``: 12-15 us a record (benchmarks/README.md, run (d)), where
the whole budget of the tap is 5 us. When none of those steps would change the record (no
stream maps or flattening, no BATCH files, no dry-run record limit, no child streams, no
``post_process``, conformance off), the writer can be handed a page at once; the only
change left is dropping deselected top-level properties, done here. The lines read as the
SDK's would (``OrjsonSingerWriter.write_records``); ``time_extracted`` is taken once per page.
The bookmark is not lost: WindowedStream moves it at window ends, never per record.

The SDK names this fast path relies on are in sdk_compat.py, with the list of the SDK's
per-record steps (``SDK_PER_RECORD_PATH``) that tests/unit/test_sdk_compat.py compares with
the installed singer-sdk, so a step a new SDK adds is noticed.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform

from tap_spinvoices.output.writer import OrjsonSingerWriter
from tap_spinvoices.sdk_compat import mark_records_written, stream_version

if TYPE_CHECKING:
    from collections.abc import Callable

_TOP_LEVEL = 2  # a breadcrumb ("properties", name)


class RecordPageWriter:
    """Writes a stream's pages of records as RECORD messages in one writer call each."""

    def __init__(
        self,
        stream: Stream,
        writer: OrjsonSingerWriter,
        deselected: tuple[str, ...],
        count: Callable[[int], None],
    ) -> None:
        """Use ``for_stream``, which checks that the page path writes what the SDK would."""
        self._stream = stream
        self._writer = writer
        self._deselected = deselected
        self._count = count

    @classmethod
    def for_stream(
        cls, stream: Stream, writer: object, count: Callable[[int], None]
    ) -> RecordPageWriter | str:
        """A page writer for ``stream``, or why its records must go through the SDK.

        Args:
            stream: The stream about to write records.
            writer: The tap's message writer.
            count: Adds to the SDK's record counter (the ``record_count`` metric).

        Returns:
            The writer, or the reason the SDK's per-record path is needed.

        """
        if not isinstance(writer, OrjsonSingerWriter):
            return "another message writer is in use"
        reason = _needs_sdk_path(stream)
        if reason:
            return reason
        mask = stream.mask
        deselected = tuple(
            breadcrumb[1]
            for breadcrumb, selected in mask.items()
            if len(breadcrumb) == _TOP_LEVEL and not selected
        )
        return cls(stream, writer, deselected, count)

    def write(self, records: list[dict[str, Any]]) -> None:
        """Write ``records`` (JSON-ready dictionaries, consumed) as RECORD messages."""
        if not records:
            return
        for name in self._deselected:
            for record in records:
                record.pop(name, None)
        stream = self._stream
        self._writer.write_records(
            stream.name,
            records,
            version=stream_version(stream),
            # What the SDK's utc_now() gives each record; here once per page.
            time_extracted=dt.datetime.now(dt.UTC),
        )
        # Like the SDK after a RECORD: the next STATE message is not a repeat.
        mark_records_written(stream)
        self._count(len(records))


def _needs_sdk_path(stream: Stream) -> str:
    """Why the SDK's per-record path could write other records than the page path ('' if not)."""
    maps = stream.stream_maps
    primary = maps[0] if len(maps) == 1 else None
    checks = (
        (bool(stream.get_batch_config(stream.config)), "BATCH messages are configured"),
        (stream.ABORT_AT_RECORD_COUNT is not None, "a dry-run record limit is set"),
        (not stream.selected, "the stream is not selected"),
        (bool(stream.child_streams), "the stream has child streams"),
        (
            type(stream).post_process is not Stream.post_process,
            "the stream post-processes records",
        ),
        (
            stream.TYPE_CONFORMANCE_LEVEL is not TypeConformanceLevel.NONE,
            "records are type-conformed",
        ),
        (
            type(primary) is not SameRecordTransform
            or primary.stream_alias != stream.name
            or primary.flattening_enabled,
            "stream maps or flattening are configured",
        ),
        (
            any(len(b) > _TOP_LEVEL and not s for b, s in stream.mask.items()),
            "nested properties are deselected",
        ),
    )
    return next((reason for failed, reason in checks if failed), "")
