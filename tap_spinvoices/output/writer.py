"""Fast Singer message writer: orjson output byte-identical to the SDK default writer."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import decimal
import functools
import re
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

# Dataclasses go through ``_default`` (which hands them to the SDK serializer): orjson
# would write them as objects, where the SDK writes ``str(obj)``. Datetimes stay native
# (isoformat() on an aware datetime costs about as much as the whole orjson call);
# ``_temporal_differs`` picks out the ones orjson writes differently.
_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_PASSTHROUGH_DATACLASS

# orjson writes floats exactly like ``repr()`` except when 1e-9 <= |x| < 1e-4: it writes
# ``0.00001`` and ``1e-7`` where Python writes ``1e-05`` and ``1e-07``. Every nonzero
# float below 1e-4 is sent to the SDK serializer, to stay well clear of the edges.
_SMALL_FLOAT = 1e-4
_SECONDS_PER_MINUTE = 60

# simplejson runs with ensure_ascii=True: it escapes DEL and every non-ASCII character,
# which orjson writes raw as UTF-8. Such characters only occur inside JSON strings, so
# escaping them afterwards gives the SDK's bytes.
_NEEDS_ESCAPE = re.compile("[\x7f-\U0010ffff]")
_BMP_END = 0x10000


def _escape_char(match: re.Match[str]) -> str:
    r"""Write one character as simplejson does: ``\uXXXX``, astral ones as a surrogate pair.

    Args:
        match: A match of exactly one character that needs escaping.

    Returns:
        The JSON escape sequence, lower-case hex.

    """
    code = ord(match.group())
    if code < _BMP_END:
        return f"\\u{code:04x}"
    code -= _BMP_END
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


# The JSON-ready leaves orjson writes exactly as the SDK does (str and int subclasses,
# such as str/int enums, are written the same way too, but take the slower check).
_PLAIN_LEAVES = frozenset({str, int, bool, type(None)})
_all_plain = _PLAIN_LEAVES.issuperset


def _values_differ(container: t.Mapping[t.Any, t.Any] | list[t.Any] | tuple[t.Any, ...]) -> bool:
    """Tell whether orjson would write a value in ``container`` unlike the SDK serializer.

    Cheap on what the tap writes, records of a few plain strings and integers: one C-level
    pass over their types. Values orjson refuses outright (big ints, bytes, ...) are left
    to its error.

    Args:
        container: A message dictionary or any dict, list or tuple inside it.

    Returns:
        True if a float with 0 < |x| < 1e-4, or a date, time or datetime that orjson
        would write differently (see ``_temporal_differs``), is found at any depth.

    """
    # A Mapping, not only a dict: singer-sdk 0.55 types RecordMessage.record as a Mapping.
    values = container.values() if isinstance(container, t.Mapping) else container
    if _all_plain(map(type, values)):
        return False
    for value in values:
        if type(value) in _PLAIN_LEAVES:
            continue
        if isinstance(value, dict | list | tuple):
            if _values_differ(value):
                return True
        elif isinstance(value, float):
            if 0.0 < abs(value) < _SMALL_FLOAT:
                return True
        elif isinstance(value, dt.date | dt.time) and _temporal_differs(value):
            return True
    return False


def _temporal_differs(value: dt.date | dt.time) -> bool:
    """Tell whether orjson would write a date, time or datetime unlike the SDK serializer.

    The SDK writes ``isoformat(sep="T")`` or ``str()``. orjson matches that for dates and
    for naive datetimes or ones with a fixed ``datetime.timezone`` offset, which is what
    ``time_extracted`` always has (UTC). It differs for offsets with seconds (it drops
    them), for a tzinfo whose offset is None (it writes +00:00), for times with 10000 to
    99999 microseconds (orjson 3.13 drops the leading zero: ``.15474``), and possibly for
    subclasses and other tzinfo classes, so all of those go to the SDK serializer.

    Args:
        value: The date, time or datetime to check.

    Returns:
        True unless orjson's output is known to be the SDK's.

    """
    cls = type(value)
    if cls is dt.date:
        return False
    if cls is not dt.datetime:  # times (rare) are left to the SDK whatever their value
        return True
    tz = value.tzinfo  # type: ignore[union-attr]  # mypy cannot narrow on type()
    if tz is None or tz is dt.UTC:  # naive, or time_extracted (always UTC)
        return False
    if type(tz) is not dt.timezone:
        return True
    offset = tz.utcoffset(None)
    return bool(offset.seconds % _SECONDS_PER_MINUTE or offset.microseconds)


def _default(obj: object) -> object:
    """Encode what orjson hands back, as the SDK's simplejson settings would.

    Args:
        obj: A value orjson does not serialize itself (or was told to pass through).

    Returns:
        Decimals as an exact JSON number, or null if not finite.

    Raises:
        TypeError: For any other type, so the message falls back to the SDK serializer
            (simplejson has its own rules for bytes, namedtuples, non-str keys, ...).

    """
    if isinstance(obj, decimal.Decimal):
        # simplejson(use_decimal=True) writes str(d) unquoted, as a Fragment does; with
        # ignore_nan=True it writes NaN, sNaN and Infinity decimals as null, like floats.
        return orjson.Fragment(str(obj)) if obj.is_finite() else None
    msg = f"{type(obj).__name__} is left to the SDK serializer"
    raise TypeError(msg)


def _sdk_line(data: dict[str, t.Any]) -> bytes:
    """Serialize with the SDK default serializer, for what orjson cannot match.

    Args:
        data: The message dictionary.

    Returns:
        The SDK default writer's line, newline included, as bytes.

    """
    return (serialize_json(data) + "\n").encode()


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
    r"""Singer writer that serializes with orjson and flushes only on non-RECORD messages.

    Each line is byte-for-byte the one ``SimpleSingerWriter`` writes
    (``serialize_json(message.to_dict()) + "\n"``). orjson does the work; the few values
    it would write differently, or refuses, send their message to the SDK serializer:
    integers beyond 64 bits, non-str keys, bytes, namedtuples, dataclasses, lone
    surrogates, nesting deeper than 254, nonzero floats below 1e-4 in magnitude, times,
    and datetimes that are subclasses or carry a tzinfo other than a whole-minute
    ``datetime.timezone``. Non-ASCII characters and DEL are escaped afterwards, as
    simplejson's ``ensure_ascii`` does. Known remaining difference: a plain
    ``enum.Enum`` member (no str/int mixin) is written by orjson as its value, where the
    SDK writes ``str(member)``; JSON-ready records never carry one.

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
        try:
            if type(message) is RecordMessage:
                # The hot path, inlined: a RECORD's other fields are its str type and
                # stream and int version, and time_extracted is always UTC.
                extracted = message.time_extracted
                record = message.record
                differs = (
                    extracted is not None
                    and extracted.tzinfo is not dt.UTC
                    and _temporal_differs(extracted)
                ) or (not _all_plain(map(type, record.values())) and _values_differ(record))
            else:
                differs = _values_differ(data)
        except RecursionError:  # a cycle, or nesting orjson would refuse anyway
            differs = True
        if differs:
            return _sdk_line(data)
        try:
            line = orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            # The SDK serializer writes what orjson refuses (or raises the error the
            # default writer would raise, e.g. "Circular reference detected").
            return _sdk_line(data)
        # Two C-speed scans on the common, pure-ASCII line; decode only when needed.
        if not line.isascii() or b"\x7f" in line:
            return _NEEDS_ESCAPE.sub(_escape_char, line.decode()).encode()
        return line

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

        The bytes are those of one ``RecordMessage`` per record written through
        ``write_message``, without building the message objects: the per-record cost is one
        orjson call. Records whose values orjson would write unlike the SDK take the
        ``serialize_message`` path. Nothing is flushed (RECORD lines never are).

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
        # lines costs ten times more (1.1 s per 100k records against 0.1 s, bench_writer).
        head = b'{"type":"RECORD","stream":' + orjson.dumps(stream) + b',"record":'
        tail = b""
        if version is not None:
            tail += b',"version":' + orjson.dumps(version)
        if time_extracted is not None:
            tail += b',"time_extracted":' + orjson.dumps(time_extracted)
        tail += b"}\n"
        data = bytearray()
        lines = 0
        for record in records:
            lines += 1
            if _all_plain(map(type, record.values())):
                try:
                    body = orjson.dumps(record)
                except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits
                    pass
                else:
                    data += head
                    data += body
                    data += tail
                    continue
            data += self._record_line(stream, record, version, time_extracted)
        if not data.isascii() or b"\x7f" in data:
            data = bytearray(_NEEDS_ESCAPE.sub(_escape_char, data.decode()).encode())
        self._write(data, flush=False)
        return lines

    def _record_line(
        self,
        stream: str,
        record: dict[str, t.Any],
        version: int | None,
        time_extracted: dt.datetime | None,
    ) -> bytes:
        message = RecordMessage(
            stream=stream, record=record, version=version, time_extracted=time_extracted
        )
        return self.serialize_message(message)

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
            # A text-only stream (e.g. io.StringIO): the line is pure ASCII.
            stdout.write(line.decode())
            if flush:
                stdout.flush()
            return
        written = buffer.write(line)
        if written is None or written < len(line):
            _write_rest(buffer, memoryview(line)[written or 0 :])
        if flush:
            buffer.flush()
