"""Fast Singer message writer: orjson lines that parse to what the SDK default writer writes."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import decimal
import functools
import select
import sys
import typing as t

import orjson
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage
from singer_sdk.singerlib.json import serialize_json
from typing_extensions import override

from tap_spinvoices.errors import OutputClosedError

__all__ = ["OrjsonSingerWriter"]

# Datetimes, dates and times are handed to ``_default`` and written as the SDK writes
# them: orjson's own format differs in the parsed string for some (it drops an offset's
# seconds, writes a tzinfo without offset as +00:00 and, in 3.13, drops a leading zero of
# the microseconds of a time). Dataclasses too: orjson would write an object, the SDK str().
_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_LINE = _OPTIONS | orjson.OPT_APPEND_NEWLINE


def _default(obj: object) -> object:
    """Encode what orjson hands back as the SDK's serializer does (``serialize_json``).

    Args:
        obj: A value orjson does not serialize itself, or was told to pass through.

    Returns:
        A Decimal as its exact text, unquoted (null if not finite), as simplejson's
        ``use_decimal`` and ``ignore_nan`` write it; a datetime as ``isoformat(sep="T")``
        and a date or time as ``str()``, as the SDK's default encoder writes them.

    Raises:
        TypeError: For any other type, so the whole message goes to the SDK serializer
            (simplejson has its own rules for bytes, namedtuples, sets, ...).

    """
    if isinstance(obj, decimal.Decimal):
        return orjson.Fragment(str(obj)) if obj.is_finite() else None
    if isinstance(obj, dt.datetime):
        return obj.isoformat(sep="T")
    if isinstance(obj, dt.date | dt.time):
        return str(obj)
    msg = f"{type(obj).__name__} is left to the SDK serializer"
    raise TypeError(msg)


def _json(value: object, *, line: bool = False) -> bytes:
    """``value`` as JSON that parses to what the SDK serializer writes for it.

    orjson does the work. What it refuses is written by the SDK serializer, which also
    raises what the SDK's writer would raise (e.g. "Circular reference detected"): integers
    beyond 64 bits, non-str keys, lone surrogates, nesting deeper than 254, and the types
    ``_default`` leaves to it.

    Args:
        value: A message dictionary, or a record inside one.
        line: End the text with a newline (orjson appends it without copying the line).

    Returns:
        The JSON text as UTF-8 bytes.

    """
    try:
        return orjson.dumps(value, default=_default, option=_LINE if line else _OPTIONS)
    except orjson.JSONEncodeError:
        return _sdk_json(value, line=line)


def _sdk_json(value: object, *, line: bool) -> bytes:
    return (serialize_json(value) + ("\n" if line else "")).encode()


def _flush_stdout_at_exit() -> None:
    """Push out records still buffered in ``sys.stdout`` when the interpreter exits."""
    stdout = sys.stdout
    if stdout is None:  # pythonw, or stdout closed and set to None by the host
        return
    # At exit the stream may already be closed or its reader gone; nothing can be done.
    with contextlib.suppress(ValueError, OSError):
        stdout.flush()


@functools.cache
def _register_exit_flush() -> None:
    """Register the exit flush once per process, however many writers are made."""
    atexit.register(_flush_stdout_at_exit)


class _ByteSink(t.Protocol):
    """``sys.stdout.buffer``: a BufferedWriter, or the raw FileIO (whose write may return None)."""

    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...

    def fileno(self) -> int: ...

    def flush(self) -> None: ...


def _write_rest(buffer: _ByteSink, rest: memoryview) -> None:
    """Write what a short write left over.

    Under PYTHONUNBUFFERED=1 (``python -u``, common in containers) ``sys.stdout.buffer`` is
    the raw FileIO, whose ``write`` stops short when a signal interrupts it on a full pipe:
    the rest of the line would be lost and the next message glued to half a record.
    """
    while rest:
        written = buffer.write(rest)
        if written is None:  # a non-blocking stdout is full: wait until it takes more
            select.select([], [buffer], [])
            continue
        rest = rest[written:]


class OrjsonSingerWriter(GenericSingerWriter[bytes, Message]):
    """Singer writer that serializes with orjson and flushes only on non-RECORD messages.

    Each line parses to what ``SimpleSingerWriter`` writes (``serialize_json``), read as
    an SDK target reads it (``deserialize_json``: numbers as Decimal): the same objects,
    keys in the same order, the same strings and the same numbers, digit for digit. The
    bytes may differ: non-ASCII characters are written as UTF-8 (simplejson escapes them),
    and a float may be written ``1e-7`` where simplejson writes ``1e-07``
    (tests/unit/test_writer.py; docs/design-decisions.md says why not the same bytes).
    Known difference: a plain ``enum.Enum`` member (no str/int mixin) is written by
    orjson as its value, where the SDK writes ``str(member)``; JSON-ready records never
    carry one.

    RECORD lines stay in the stdout buffer; any other message flushes it, so a STATE
    line reaches the target only after the records it covers (same buffer, in order).
    Whatever is still buffered at exit is flushed by an ``atexit`` hook.
    """

    def __init__(self) -> None:
        """Create the writer and make sure buffered records are flushed at exit."""
        super().__init__()
        _register_exit_flush()
        self._writing = False
        self._when_idle: list[t.Callable[[], None]] = []

    def call_when_idle(self, callback: t.Callable[[], None]) -> None:
        """Run ``callback`` now, or as soon as the line being written is complete.

        A signal handler can interrupt a write blocked on a full pipe; writing its STATE
        there would tear the record line in two. Deferred, the STATE follows whole lines.
        """
        if self._writing:
            self._when_idle.append(callback)
        else:
            callback()

    @override
    def serialize_message(self, message: Message) -> bytes:
        """Serialize a message into one JSON line.

        Args:
            message: A Singer message object.

        Returns:
            The JSON line as bytes, trailing newline included.

        """
        data = message.to_dict()
        extracted = data.get("time_extracted")
        if type(extracted) is not dt.datetime or extracted.tzinfo is not dt.UTC:
            return _json(data, line=True)
        # The SDK's time_extracted (utc_now(): a UTC datetime, on every record it writes).
        # orjson writes that as isoformat() does, in a fifth of the time _default takes:
        # on small records, a third of the cost of the line (benchmarks/bench_writer.py).
        data["time_extracted"] = orjson.Fragment(orjson.dumps(extracted))
        try:
            return orjson.dumps(data, default=_default, option=_LINE)
        except orjson.JSONEncodeError:
            return _sdk_json(message.to_dict(), line=True)

    @override
    def write_message(self, message: Message) -> None:
        """Write a message to stdout, flushing unless it is a RECORD.

        ``sys.stdout`` is looked up on every call because test runners swap it.

        Args:
            message: The message to write.

        """
        self._write(self.format_message(message), flush=not isinstance(message, RecordMessage))

    def write_records(
        self,
        stream: str,
        records: t.Iterable[dict[str, t.Any]],
        *,
        version: int | None = None,
        time_extracted: dt.datetime | None = None,
    ) -> int:
        """Write RECORD messages for ``records`` in one go, as ``write_message`` would.

        The lines are those of one ``RecordMessage`` per record written through
        ``write_message``, without building the message objects: the per-record cost is one
        orjson call. Nothing is flushed (RECORD lines never are).

        Args:
            stream: The stream name of every message.
            records: JSON-ready record dictionaries.
            version: The stream version, if any.
            time_extracted: When the records were extracted (UTC), if known.

        Returns:
            How many records were written.

        """
        if time_extracted is not None:
            # What RecordMessage does: refuse naive datetimes, write the UTC instant.
            if time_extracted.tzinfo is None:
                msg = "'time_extracted' must be either None or an aware datetime (with a time zone)"
                raise ValueError(msg)
            time_extracted = time_extracted.astimezone(dt.UTC)
        # A RECORD line is these bytes around the record's own JSON (the key order of
        # RecordMessage.to_dict). The page grows in one bytearray: joining a list of the
        # lines cost ten times more when measured (1.1 s per 100k records against 0.1 s).
        head = b'{"type":"RECORD","stream":' + _json(stream) + b',"record":'
        tail = b""
        if version is not None:
            tail += b',"version":' + _json(version)
        if time_extracted is not None:
            tail += b',"time_extracted":' + _json(time_extracted)
        tail += b"}\n"
        data = bytearray()
        lines = 0
        for record in records:
            lines += 1
            data += head
            data += _json(record)
            data += tail
        self._write(data, flush=False)
        return lines

    def _write(self, data: bytes | bytearray, *, flush: bool) -> None:
        self._writing = True
        try:
            self._write_line(data, flush=flush)
        except BrokenPipeError:
            # The target exited or closed stdin. Click would turn the raw error into a
            # silent exit 1; as an OutputClosedError it becomes one line saying so (tap.main).
            raise OutputClosedError from None
        finally:
            self._writing = False
        while self._when_idle:
            self._when_idle.pop(0)()

    @staticmethod
    def _write_line(line: bytes | bytearray, *, flush: bool) -> None:
        stdout = sys.stdout
        buffer = t.cast("_ByteSink | None", getattr(stdout, "buffer", None))
        if buffer is None:
            # A text-only stream (e.g. io.StringIO): the line as text (it is UTF-8).
            stdout.write(line.decode())
            if flush:
                stdout.flush()
            return
        written = buffer.write(line)
        if written is None or written < len(line):
            _write_rest(buffer, memoryview(line)[written or 0 :])
        if flush:
            buffer.flush()
