"""OrjsonSingerWriter: lines that read as the SDK default writer's, flushing, stdout handling.

"Read as" is what an SDK target reads from a line (tests/parse_equal.py): the same objects,
keys in order, strings, and numbers digit for digit. The bytes may differ (UTF-8 where
simplejson escapes, ``1e-7`` where it writes ``1e-07``).
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import datetime as dt
import decimal
import enum
import io
import json
import random
import struct
import sys
import typing as t
import uuid
from zoneinfo import ZoneInfo

import pytest
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.helpers._batch import BaseBatchFileEncoding, SDKBatchMessage
from singer_sdk.singerlib.encoding.simple import (
    ActivateVersionMessage,
    Message,
    RecordMessage,
    SchemaMessage,
    StateMessage,
)
from singer_sdk.singerlib.json import deserialize_json, serialize_json

from tap_spinvoices.errors import OutputClosedError
from tap_spinvoices.output import writer as writer_module
from tap_spinvoices.output.writer import OrjsonSingerWriter
from tests.parse_equal import as_target_reads, read_lines

UTC = dt.UTC
BRASILIA = dt.timezone(-dt.timedelta(hours=3))


def sdk_line(message: Message) -> bytes:
    """What the SDK default writer (SimpleSingerWriter) writes for ``message``."""
    return (serialize_json(message.to_dict()) + "\n").encode()


def ours(message: Message) -> bytes:
    return OrjsonSingerWriter().serialize_message(message)


def assert_reads_as_sdk(message: Message) -> None:
    assert as_target_reads(ours(message)) == as_target_reads(sdk_line(message)), message


def record(value: object) -> RecordMessage:
    return RecordMessage(stream="customer_invoices", record={"v": value})


# --------------------------------------------------------------------------- read as the SDK's

Point = collections.namedtuple("Point", "x y")  # noqa: PYI024 - namedtuple on purpose


@dataclasses.dataclass
class Amount:
    value: int = 1


class Colour(enum.Enum):
    RED = 1


class Kind(str, enum.Enum):  # noqa: UP042 - the mixin SingerMessageType uses
    A = "a"


class Tag(enum.StrEnum):
    B = "b"


class Level(enum.IntEnum):
    HIGH = 3


class NoOffset(dt.tzinfo):
    def utcoffset(self, _: dt.datetime | None) -> None:
        return None

    def dst(self, _: dt.datetime | None) -> None:
        return None

    def tzname(self, _: dt.datetime | None) -> None:
        return None


class StampedDatetime(dt.datetime):
    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "stamped " + super().isoformat(sep, timespec)


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


MESSAGES: dict[str, Message] = {
    "record-basic": RecordMessage(
        stream="customer_invoices",
        record={
            "purchaseOrderNumber": "PO-1",
            "content_bytes": 2048,
            "ok": True,
            "none": None,
        },
    ),
    "record-version-time-extracted": RecordMessage(
        stream="customer_invoices",
        record={"purchaseOrderNumber": "PO-2"},
        version=1_700_000_000_000,
        time_extracted=dt.datetime(2026, 11, 22, 0, 1, 2, 345678, tzinfo=UTC),
    ),
    "record-time-extracted-offset": RecordMessage(
        stream="s",
        record={},
        time_extracted=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
    ),
    "schema": SchemaMessage(
        stream="customer_invoices",
        schema={
            "type": "object",
            "properties": {
                "purchaseOrderNumber": {"type": ["string"], "description": "Número do pedido"},
                "amount": {"type": ["number", "null"], "multipleOf": 0.01},
            },
            "required": ["purchaseOrderNumber"],
        },
        key_properties=["purchaseOrderNumber"],
        bookmark_properties=["window_end"],
    ),
    "schema-no-keys": SchemaMessage(stream="s", schema={"type": "object", "properties": {}}),
    "state": StateMessage(
        value={
            "bookmarks": {
                "customer_invoices": {
                    "replication_key": "window_end",
                    "replication_key_value": "2026-11-21T00:00:00+00:00",
                    "partitions": [{"context": {"party": "ABC"}, "progress_markers": {}}],
                }
            }
        }
    ),
    "activate-version": ActivateVersionMessage(stream="customer_invoices", version=17),
    "batch": SDKBatchMessage(
        stream="customer_invoices",
        encoding=BaseBatchFileEncoding(format="jsonl", compression="gzip"),
        manifest=["file:///tmp/a.jsonl.gz", "file:///tmp/b.jsonl.gz"],
    ),
    # Decimals: written as exact numbers, never through float.
    "decimal-big-exact": record(decimal.Decimal("12345678901234567890.123456789")),
    "decimal-negative-zero": record(decimal.Decimal("-0.00")),
    "decimal-exponent": record(decimal.Decimal("1E+3")),
    "decimal-small": record(decimal.Decimal("0.00001")),
    "decimal-many": record([decimal.Decimal("0.1"), decimal.Decimal("99999999999999999999.99")]),
    "decimal-not-finite": record(
        [decimal.Decimal(v) for v in ("NaN", "-NaN", "sNaN", "Infinity", "-Infinity")]
    ),
    "decimal-huge-exponent": record(decimal.Decimal("1E+999999")),
    # Datetimes: isoformat(sep="T"), whatever the tzinfo.
    "datetime-naive": record(dt.datetime(2026, 11, 22, 1, 2, 3)),  # noqa: DTZ001
    "datetime-utc": record(dt.datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC)),
    "datetime-offset": record(
        dt.datetime(2026, 11, 22, 1, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    ),
    "datetime-microseconds": record(dt.datetime(2026, 11, 22, 1, 2, 3, 7, tzinfo=UTC)),
    # 10000-99999 microseconds: orjson 3.13 drops the leading zero of a time's (".15474").
    "datetime-five-digit-microseconds": record(
        [
            dt.datetime(2026, 11, 22, 20, 34, 53, 15474, tzinfo=UTC),
            dt.datetime(
                2026, 11, 22, 20, 34, 53, 99999, tzinfo=dt.timezone(-dt.timedelta(hours=3))
            ),
            dt.datetime(2026, 11, 22, 20, 34, 53, 10000),  # noqa: DTZ001 - naive on purpose
        ]
    ),
    "time-extracted-five-digit-microseconds": RecordMessage(
        stream="s",
        record={},
        time_extracted=dt.datetime(2026, 11, 22, 0, 1, 2, 15474, tzinfo=UTC),
    ),
    "datetime-sub-minute-offset": record(
        dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1, seconds=15)))
    ),
    "datetime-zoneinfo": record(dt.datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("America/Sao_Paulo"))),
    "datetime-zoneinfo-lmt": record(dt.datetime(1900, 1, 1, tzinfo=ZoneInfo("America/Sao_Paulo"))),
    "datetime-ambiguous-fold": record(
        [
            dt.datetime(2025, 11, 2, 1, 30, fold=fold, tzinfo=ZoneInfo("America/New_York"))
            for fold in (0, 1)
        ]
    ),
    "datetime-tzinfo-without-offset": record(dt.datetime(2026, 1, 1, tzinfo=NoOffset())),
    "datetime-subclass": record(StampedDatetime(2026, 1, 1)),
    "date": record([dt.date(2026, 11, 22), dt.date(1, 1, 1)]),
    # orjson 3.13 writes time(20, 34, 53, 15474) as "20:34:53.15474": times go to the SDK.
    "time": record([dt.time(20, 34, 53, 15474), dt.time(1, 2, 3, 4), dt.time(23, 59)]),
    "time-aware": record(dt.time(1, 2, tzinfo=UTC)),
    # Structure.
    "nested": record({"a": [1, {"b": [None, True, False, [], {}]}], "c": {"d": {"e": "f"}}}),
    "tuple": record((1, "two", 3.0)),
    "nested-small-float": record({"a": [{"b": 1e-6}]}),
    "state-small-float": StateMessage(value={"bookmarks": {"s": {"ratio": 2.5e-7}}}),
    "key-order-kept": RecordMessage(stream="s", record={"z": 1, "a": 2, "m": 3}),
    # Strings: simplejson escapes DEL and every non-ASCII character (ensure_ascii).
    "unicode-latin": record("Nota fiscal eletrônica: São Paulo, açaí"),
    "unicode-keys": RecordMessage(stream="s", record={"número": "€", "键": "值"}),
    "unicode-astral": record("emoji 😀 and 𝄞"),
    "unicode-separators": record("\u2028\u2029\ufeff\x85"),
    "control-and-del": record("\x00\x01\x08\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x7f\x80\x9f"),
    "quotes-backslash-slash": record('"quoted" \\ back / slash </script>'),
    # Floats: repr() digits, NaN/inf as null.
    "float-nan-inf": record([float("nan"), float("inf"), float("-inf")]),
    "float-common": record([0.1, -0.0, 1.0, 1e-4, 1e15, 1e16, 1.5e300, 1.7976931348623157e308]),
    "float-small-exponent": record([1e-5, 9.9e-5, 1e-7, -1.5e-9, 1e-10, 5e-324]),
    # Where a writer switches between plain and exponent notation, and the extremes.
    "float-notation-edges": record(
        [
            9.999999999999999e-05,
            1.0000000000000001e-04,
            1e-9,
            9.99e-10,
            9999999999999998.0,
            1.0000000000000002e16,
            1e21,
            1e22,
            123456789012345680000.0,
            2.2250738585072014e-308,
            -1.7976931348623157e308,
            0.1 + 0.2,
        ]
    ),
    # Integers: orjson stops at 64 bits; the SDK serializer takes over.
    "int-64-bit-bounds": record([2**63 - 1, -(2**63), 2**64 - 1]),
    "int-beyond-64-bits": record([2**64, -(2**63) - 1, 10**40]),
    "int-beyond-64-bits-time-extracted": RecordMessage(
        stream="s", record={"n": 2**64}, time_extracted=dt.datetime(2026, 1, 1, tzinfo=UTC)
    ),
    # Types orjson refuses or encodes differently: the SDK serializer takes over.
    "bytes": record(b"raw"),
    "namedtuple": record(Point(1, 2)),
    "dataclass": record(Amount()),
    "non-str-keys": record({1: "a", False: "b", None: "c", 1.5: "d", decimal.Decimal("2.50"): "e"}),
    "lone-surrogate": record("\ud800"),
    "lone-surrogates-in-keys-and-pairs": RecordMessage(
        stream="s", record={"\udc00": "a\ud83d", "b": ["\ude00\ud83d"]}
    ),
    # orjson writes 254 levels at most: the message, its record and 252 lists.
    "nesting-at-orjson-limit": record(_nested(252)),
    "nesting-beyond-orjson-limit": record(_nested(253)),
    "deep-nesting": record(_nested(300)),
    "frozenset": record(frozenset()),
    "str-and-int-enums": record([Kind.A, Tag.B, Level.HIGH]),
    "uuid": record(uuid.UUID("12345678-1234-5678-1234-567812345678")),
}


@pytest.mark.parametrize("message", MESSAGES.values(), ids=MESSAGES.keys())
def test_each_line_reads_as_the_sdk_default_writers_line(message: Message) -> None:
    assert_reads_as_sdk(message)


# Messages orjson refuses, so the SDK serializer writes them; all others take orjson.
FALLBACK = {
    "int-beyond-64-bits",
    "int-beyond-64-bits-time-extracted",
    "bytes",
    "namedtuple",
    "dataclass",
    "non-str-keys",
    "lone-surrogate",
    "lone-surrogates-in-keys-and-pairs",
    "nesting-beyond-orjson-limit",
    "deep-nesting",
    "frozenset",
}


@pytest.mark.parametrize("name", MESSAGES.keys())
def test_only_values_orjson_refuses_fall_back(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A silent fallback would still be correct, but would lose the speed-up.
    calls: list[object] = []

    def counting(obj: object) -> str:
        calls.append(obj)
        return serialize_json(obj)

    monkeypatch.setattr(writer_module, "serialize_json", counting)
    ours(MESSAGES[name])
    assert len(calls) == (name in FALLBACK)


def test_the_sdks_utc_time_extracted_is_written_by_orjson_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Handed to _default, its isoformat() would be a third of the cost of a small line.
    handed_back: list[object] = []

    def counting(obj: object) -> object:
        handed_back.append(obj)
        return writer_module._default(obj)

    monkeypatch.setattr(writer_module, "_default", counting)
    extracted = dt.datetime(2026, 11, 30, 3, 0, 0, 15474, tzinfo=UTC)
    assert_reads_as_sdk(RecordMessage(stream="s", record={"a": "b"}, time_extracted=extracted))
    assert handed_back == []


def test_time_extracted_reads_as_the_sdks_at_any_instant() -> None:
    rng = random.Random(11)  # noqa: S311 - reproducible test data
    first, last = dt.datetime.min.replace(tzinfo=UTC), dt.datetime.max.replace(tzinfo=UTC)
    span = int((last - first).total_seconds())
    instants = [first, last]
    instants += [
        first + dt.timedelta(seconds=rng.randrange(span), microseconds=micros)
        for micros in [0, 1, 9, 10, 999, 1000, 15474, 99999, 100000, 999999] * 100
    ]
    for extracted in instants:
        assert_reads_as_sdk(RecordMessage(stream="s", record={}, time_extracted=extracted))


def test_non_ascii_is_written_as_utf8_where_the_sdk_escapes_it() -> None:
    # The one visible difference from the SDK's bytes (docs/design-decisions.md).
    message = record("São Paulo 😀")
    assert '"São Paulo 😀"'.encode() in ours(message)
    assert b'"S\\u00e3o Paulo \\ud83d\\ude00"' in sdk_line(message)


def test_random_floats_read_as_the_sdks() -> None:
    rng = random.Random(20261122)  # noqa: S311 - reproducible test data
    values: list[float] = []
    for _ in range(20_000):
        values.append(rng.random() * 10.0 ** rng.randint(-12, 20) * rng.choice((1, -1)))
        # Any bit pattern: subnormals, huge exponents, NaN and inf included.
        values.append(struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0])
    for start in range(0, len(values), 100):
        assert_reads_as_sdk(record(values[start : start + 100]))


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(12 if depth < 3 else 9)
    offset = dt.timedelta(minutes=rng.randint(-900, 900), seconds=rng.choice((0, 0, 0, 30)))
    makers: list[t.Callable[[], object]] = [
        lambda: rng.randint(-(2**70), 2**70) if rng.random() < 0.1 else rng.randint(-999, 999),
        lambda: rng.random() * 10.0 ** rng.randint(-12, 20),
        lambda: decimal.Decimal(rng.randint(-(10**30), 10**30)).scaleb(rng.randint(-12, 3)),
        lambda: "".join(
            chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x10FFFF)))) for _ in range(8)
        ),
        lambda: rng.choice((None, True, False, float("nan"), "")),
        lambda: (
            dt.datetime(2026, 1, 1, tzinfo=dt.timezone(offset))
            + dt.timedelta(microseconds=rng.randrange(10**12))
        ),
        lambda: dt.datetime(2026, 1, 1) + dt.timedelta(seconds=rng.randrange(10**8)),  # noqa: DTZ001
        lambda: dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(9999)),
        lambda: dt.time(
            rng.randrange(24), rng.randrange(60), rng.randrange(60), rng.randrange(10**6)
        ),
        lambda: [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))],
        lambda: {f"k{i}é": _random_value(rng, depth + 1) for i in range(rng.randrange(4))},
        lambda: tuple(_random_value(rng, depth + 1) for _ in range(rng.randrange(3))),
    ]
    return makers[kind]()


def test_random_messages_read_as_the_sdks() -> None:
    rng = random.Random(42)  # noqa: S311 - reproducible test data
    for _ in range(3000):
        record_value = {f"f{i}": _random_value(rng) for i in range(rng.randrange(1, 6))}
        assert_reads_as_sdk(RecordMessage(stream="s", record=record_value))
        assert_reads_as_sdk(StateMessage(value={"bookmarks": record_value}))


def test_every_code_point_reads_as_the_sdks() -> None:
    # Every BMP character but the surrogates, then every 97th astral one.
    bmp = [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    text = "".join(map(chr, [*bmp, *range(0x10000, sys.maxunicode + 1, 97), sys.maxunicode]))
    assert_reads_as_sdk(RecordMessage(stream="s", record={text[:5000]: text}))


def test_integers_beyond_64_bits_are_written_exactly() -> None:
    huge = 123456789012345678901234567890
    line = ours(RecordMessage(stream="s", record={"n": huge, "neg": -huge}))
    assert line == b'{"type":"RECORD","stream":"s","record":{"n":%d,"neg":%d}}\n' % (huge, -huge)


def test_circular_reference_raises_like_sdk() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        ours(record(loop))


def test_plain_enum_is_the_documented_difference() -> None:
    # orjson writes a plain Enum's value; the SDK writes str(member). Records are JSON-ready,
    # so none carries one; this pins the behaviour the class docstring documents.
    message = record(Colour.RED)
    assert ours(message) == b'{"type":"RECORD","stream":"customer_invoices","record":{"v":1}}\n'
    assert sdk_line(message).endswith(b'{"v":"Colour.RED"}}\n')


# --------------------------------------------------------------------------- writing and flushing


class FakeBuffer:
    """Binary buffer that remembers what had been written at each flush."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.flushes: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def flush(self) -> None:
        self.flushes.append(bytes(self.data))


class FakeStdout:
    """Text stdout whose text layer must not be used when a buffer exists."""

    def __init__(self) -> None:
        self.buffer = FakeBuffer()

    def write(self, text: str) -> int:
        raise AssertionError(f"text write of {text!r}")

    def flush(self) -> None:
        self.buffer.flush()


def install_fake_stdout(monkeypatch: pytest.MonkeyPatch) -> FakeStdout:
    # Installed from the test body: pytest's capture resets sys.stdout after fixtures run.
    fake = FakeStdout()
    monkeypatch.setattr(sys, "stdout", fake)
    return fake


def _records(count: int) -> list[RecordMessage]:
    return [RecordMessage(stream="s", record={"i": i}) for i in range(count)]


def test_records_alone_do_not_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_stdout = install_fake_stdout(monkeypatch)
    writer = OrjsonSingerWriter()
    for message in _records(3):
        writer.write_message(message)
    assert fake_stdout.buffer.flushes == []
    assert bytes(fake_stdout.buffer.data) == b"".join(ours(m) for m in _records(3))


def test_state_flush_pushes_out_preceding_records(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_stdout = install_fake_stdout(monkeypatch)
    writer = OrjsonSingerWriter()
    state = StateMessage(value={"bookmarks": {"s": {"replication_key_value": 2}}})
    for message in [*_records(3), state, *_records(1)]:
        writer.write_message(message)
    expected = b"".join(ours(m) for m in [*_records(3), state])
    # One flush, right after STATE, and it carried the three records before the STATE line.
    assert fake_stdout.buffer.flushes == [expected]
    assert bytes(fake_stdout.buffer.data) == expected + ours(_records(1)[0])


@pytest.mark.parametrize(
    "message",
    [MESSAGES["schema"], MESSAGES["state"], MESSAGES["activate-version"], MESSAGES["batch"]],
    ids=["schema", "state", "activate-version", "batch"],
)
def test_every_non_record_message_flushes(
    monkeypatch: pytest.MonkeyPatch, message: Message
) -> None:
    fake_stdout = install_fake_stdout(monkeypatch)
    OrjsonSingerWriter().write_message(message)
    assert fake_stdout.buffer.flushes == [ours(message)]


def test_writes_to_swapped_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = OrjsonSingerWriter()  # created before the swap: stdout is looked up per call
    swapped = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", swapped)
    messages = [*_records(2), MESSAGES["unicode-keys"], MESSAGES["state"]]
    for message in messages:
        writer.write_message(message)
    swapped.seek(0)
    assert swapped.read() == "".join(ours(m).decode() for m in messages)
    assert read_lines(swapped.buffer.getvalue()) == read_lines(b"".join(map(sdk_line, messages)))


def test_stdout_without_buffer_gets_text(monkeypatch: pytest.MonkeyPatch) -> None:
    text_only = io.StringIO()
    monkeypatch.setattr(sys, "stdout", text_only)
    messages = [*_records(2), MESSAGES["unicode-astral"], MESSAGES["state"]]
    writer = OrjsonSingerWriter()
    for message in messages:
        writer.write_message(message)
    assert text_only.getvalue() == "".join(ours(m).decode() for m in messages)


def test_exit_flush_is_registered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[t.Callable[[], None]] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    writer_module._register_exit_flush.cache_clear()
    OrjsonSingerWriter()
    OrjsonSingerWriter()
    assert registered == [writer_module._flush_stdout_at_exit]


def test_exit_flush_pushes_out_buffered_records(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_stdout = install_fake_stdout(monkeypatch)
    OrjsonSingerWriter().write_message(_records(1)[0])
    writer_module._flush_stdout_at_exit()
    assert fake_stdout.buffer.flushes == [ours(_records(1)[0])]


def test_exit_flush_tolerates_closed_or_missing_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    closed.close()
    monkeypatch.setattr(sys, "stdout", closed)
    writer_module._flush_stdout_at_exit()
    monkeypatch.setattr(sys, "stdout", None)
    writer_module._flush_stdout_at_exit()


# --------------------------------------------------------------------------- plugged into a tap


class _InvoiceStream(Stream):
    name = "customer_invoices"
    primary_keys = ("purchaseOrderNumber",)
    schema = th.PropertiesList(
        th.Property("purchaseOrderNumber", th.StringType, required=True),
        th.Property("amount", th.NumberType),
    ).to_dict()

    def get_records(self, context: t.Any) -> t.Iterable[dict[str, t.Any]]:  # noqa: ARG002
        yield {"purchaseOrderNumber": "PO-1", "amount": decimal.Decimal("10.10")}
        yield {"purchaseOrderNumber": "PO-é", "amount": decimal.Decimal("1E+2")}


def _run_tap(writer_class: type | None, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, t.Any]]:
    class _Tap(Tap):
        name = "tap-writer-test"
        config_jsonschema = th.PropertiesList().to_dict()

        def discover_streams(self) -> list[Stream]:
            return [_InvoiceStream(self)]

    if writer_class is not None:
        _Tap.message_writer_class = writer_class
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    _Tap(config={}, setup_mapper=True).sync_all()
    out.seek(0)
    messages = [deserialize_json(line) for line in out.read().splitlines()]
    for message in messages:
        message.pop("time_extracted", None)  # the only field that differs between two runs
    return messages


def test_tap_output_matches_default_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    ours_out = _run_tap(OrjsonSingerWriter, monkeypatch)
    assert ours_out == _run_tap(None, monkeypatch)
    assert [m["type"] for m in ours_out] == ["SCHEMA", "RECORD", "RECORD", "STATE"]


class _InterruptingBuffer(io.BytesIO):
    """A stdout buffer whose first write is 'interrupted' by a signal handler."""

    def __init__(self, on_first_write):
        super().__init__()
        self.on_first_write = on_first_write

    def write(self, data):
        handler, self.on_first_write = self.on_first_write, None
        written = super().write(data[: len(data) // 2])
        if handler is not None:
            handler()  # what a SIGTERM arriving in the middle of a blocked write would run
        return written + super().write(data[len(data) // 2 :])


def test_a_signal_during_a_record_write_gets_its_state_after_the_whole_line(monkeypatch):
    writer = OrjsonSingerWriter()
    state = StateMessage(value={"bookmarks": {"s": {"replication_key_value": "x"}}})
    buffer = _InterruptingBuffer(lambda: writer.call_when_idle(lambda: writer.write_message(state)))
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buffer))

    writer.write_message(RecordMessage(stream="s", record={"a": "b" * 100}))

    lines = buffer.getvalue().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["RECORD", "STATE"]


# --------------------------------------------------------------------------- pages of records

EXTRACTED_AT = {
    "none": None,
    "utc": dt.datetime(2026, 11, 22, 0, 1, 2, 345678, tzinfo=UTC),
    "utc-whole-second": dt.datetime(2026, 11, 22, 0, 1, 2, tzinfo=UTC),
    "utc-five-digit-microseconds": dt.datetime(2026, 11, 22, 0, 1, 2, 15474, tzinfo=UTC),
    "offset": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
    "zoneinfo": dt.datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Lisbon")),
}
RECORD_VALUES = [m.record for m in MESSAGES.values() if isinstance(m, RecordMessage)]


def page_as_messages(
    stream: str,
    records: list[dict[str, t.Any]],
    version: int | None,
    time_extracted: dt.datetime | None,
) -> bytes:
    """What writing one RecordMessage per record through the SDK default writer gives."""
    return b"".join(
        sdk_line(RecordMessage(stream, r, version=version, time_extracted=time_extracted))
        for r in records
    )


def write_page(
    records: list[dict[str, t.Any]], stream: str = "customer_invoices", **kwargs: t.Any
) -> bytes:
    buffer = io.BytesIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdout", io.TextIOWrapper(buffer))
        OrjsonSingerWriter().write_records(stream, records, **kwargs)
        return buffer.getvalue()


@pytest.mark.parametrize("extracted", EXTRACTED_AT.values(), ids=EXTRACTED_AT.keys())
@pytest.mark.parametrize("version", [None, 1_700_000_000_000])
def test_a_page_of_records_is_written_as_one_record_message_each(
    extracted: dt.datetime | None, version: int | None
) -> None:
    expected = page_as_messages("customer_invoices", RECORD_VALUES, version, extracted)
    page = write_page(RECORD_VALUES, version=version, time_extracted=extracted)
    assert read_lines(page) == read_lines(expected)


def test_random_pages_read_as_the_sdks() -> None:
    rng = random.Random(7)  # noqa: S311 - reproducible test data
    for _ in range(300):
        records = [
            {f"f{i}": _random_value(rng) for i in range(rng.randrange(1, 6))}
            for _ in range(rng.randrange(0, 5))
        ]
        extracted = EXTRACTED_AT["utc"]
        expected = page_as_messages("customer_invoices", records, None, extracted)
        assert read_lines(write_page(records, time_extracted=extracted)) == read_lines(expected)


def test_a_page_of_records_is_not_flushed(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_stdout = install_fake_stdout(monkeypatch)
    written = OrjsonSingerWriter().write_records("s", [{"i": 1}, {"i": 2}])
    assert written == 2
    assert fake_stdout.buffer.flushes == []
    assert bytes(fake_stdout.buffer.data) == b"".join(ours(m) for m in _records(3)[1:])


class _ShortWritingRawStdout:
    """The raw FileIO stdout of ``python -u``: each write takes a few bytes, or none."""

    def __init__(self, step: int) -> None:
        self.data = bytearray()
        self.step = step
        self.calls = 0

    def write(self, data: bytes | memoryview) -> int | None:
        self.calls += 1
        if self.calls % 3 == 0:
            return None  # a full non-blocking pipe
        chunk = bytes(data[: self.step])
        self.data += chunk
        return len(chunk)

    def fileno(self) -> int:
        return sys.__stderr__.fileno()  # always writable: select() returns at once

    def flush(self) -> None:
        pass


def test_short_writes_of_an_unbuffered_stdout_are_completed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = _ShortWritingRawStdout(step=1000)
    monkeypatch.setattr(sys, "stdout", type("Unbuffered", (), {"buffer": raw})())
    writer = OrjsonSingerWriter()
    records = [{"purchaseOrderNumber": f"PO{i}", "content": "x" * 2700} for i in range(10)]
    writer.write_records("s", records)
    writer.write_message(MESSAGES["state"])
    # Every byte arrives, in order: what a buffered stdout would have been given.
    assert bytes(raw.data) == write_page(records, stream="s") + ours(MESSAGES["state"])


def test_a_signal_during_a_page_write_gets_its_state_after_the_whole_page(monkeypatch):
    writer = OrjsonSingerWriter()
    state = StateMessage(value={"bookmarks": {"s": {"replication_key_value": "x"}}})
    buffer = _InterruptingBuffer(lambda: writer.call_when_idle(lambda: writer.write_message(state)))
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buffer))

    writer.write_records("s", [{"a": "b" * 100}, {"a": "c"}])

    lines = buffer.getvalue().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["RECORD", "RECORD", "STATE"]


def test_a_naive_time_extracted_is_refused_like_the_sdk() -> None:
    naive = dt.datetime(2026, 1, 1)  # noqa: DTZ001 - the case under test
    with pytest.raises(ValueError, match="aware datetime") as sdk_error:
        RecordMessage("s", {}, time_extracted=naive)
    with pytest.raises(ValueError, match="aware datetime") as our_error:
        write_page([{}], time_extracted=naive)
    assert str(our_error.value) == str(sdk_error.value)


class ClosedPipeBuffer(FakeBuffer):
    """A stdout whose reader has gone: every write fails with EPIPE."""

    def write(self, data: bytes) -> int:  # noqa: ARG002 - nothing is taken
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize(
    "write",
    [
        lambda w: w.write_message(_records(1)[0]),
        lambda w: w.write_message(MESSAGES["state"]),
        lambda w: w.write_records("s", [{"i": 1}]),
    ],
    ids=["record", "state", "page"],
)
def test_a_closed_stdout_is_reported_as_output_closed_not_a_raw_broken_pipe(
    monkeypatch: pytest.MonkeyPatch, write: t.Callable[[OrjsonSingerWriter], object]
) -> None:
    fake_stdout = install_fake_stdout(monkeypatch)
    fake_stdout.buffer = ClosedPipeBuffer()
    writer = OrjsonSingerWriter()
    with pytest.raises(OutputClosedError, match=r"^Output closed: .*\(broken pipe\)"):
        write(writer)
    done: list[str] = []
    writer.call_when_idle(lambda: done.append("state"))
    assert done == ["state"]  # not left "writing": a signal's STATE is not deferred forever
