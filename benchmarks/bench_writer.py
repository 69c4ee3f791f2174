"""Writer-only microbenchmark: SDK default vs MsgSpecWriter vs OrjsonSingerWriter."""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import gc
import hashlib
import io
import os
import random
import statistics
import sys
import time
import typing as t
from pathlib import Path

# `python benchmarks/bench_writer.py` puts benchmarks/ on sys.path, not the repo root.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from singer_sdk.singerlib.encoding.simple import RecordMessage, SimpleSingerWriter  # noqa: E402
from singer_sdk.singerlib.json import serialize_json  # noqa: E402

from tap_spinvoices.output.writer import OrjsonSingerWriter  # noqa: E402

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.base import GenericSingerWriter

STREAM = "customer_invoices"
CONTENT_POOL = 64  # distinct invoice bodies, reused so 100k records stay small in memory


def build_messages(count: int, seed: int = 7) -> list[RecordMessage]:
    """Invoice-like RECORDs as the tap emits them (JSON-ready values, time_extracted set)."""
    rng = random.Random(seed)
    bodies = [rng.randbytes(2025) for _ in range(CONTENT_POOL)]  # 2025 bytes -> 2700 Base64 chars
    contents = [
        (base64.b64encode(body).decode(), hashlib.sha256(body).hexdigest(), len(body))
        for body in bodies
    ]
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    extracted = dt.datetime(2026, 11, 22, 0, 0, 0, 123456, tzinfo=dt.UTC)
    messages = []
    for i in range(count):
        content, sha, size = contents[i % CONTENT_POOL]
        window_start = start + dt.timedelta(days=i // 1000)
        record = {
            "purchaseOrderNumber": f"PO{i:010d}",
            "content": content,
            "content_sha256": sha,
            "content_bytes": size,
            "window_start": window_start.isoformat(),
            "window_end": (window_start + dt.timedelta(days=1)).isoformat(),
            "ship_from_party_id": f"WH{i % 37:03d}",
            "api_version": "v1",
        }
        messages.append(RecordMessage(stream=STREAM, record=record, time_extracted=extracted))
    return messages


def writer_factories() -> dict[str, t.Callable[[], GenericSingerWriter[t.Any, t.Any]]]:
    """The writers to compare; MsgSpecWriter only when msgspec is installed."""
    factories: dict[str, t.Callable[[], GenericSingerWriter[t.Any, t.Any]]] = {
        "SimpleSingerWriter (SDK default, simplejson)": SimpleSingerWriter,
    }
    try:
        from singer_sdk.contrib.msgspec import MsgSpecWriter  # noqa: PLC0415 - optional extra
    except ImportError:
        print("note: msgspec is not installed; MsgSpecWriter row skipped", file=sys.stderr)
    else:
        factories["MsgSpecWriter (contrib, msgspec)"] = MsgSpecWriter
    factories["OrjsonSingerWriter (ours)"] = OrjsonSingerWriter
    factories[PAGE_ROW] = _Pages
    return factories


class _Pages(OrjsonSingerWriter):
    """Marks the row that writes pages with write_records."""


def check_ours_matches_sdk(messages: list[RecordMessage]) -> None:
    """Refuse to report numbers for output that is not the SDK default's."""
    writer = OrjsonSingerWriter()
    for message in messages[:1000]:
        expected = (serialize_json(message.to_dict()) + "\n").encode()
        if writer.serialize_message(message) != expected:
            msg = f"OrjsonSingerWriter output differs from the SDK's for {message.record}"
            raise SystemExit(msg)


PAGE_ROW = "OrjsonSingerWriter.write_records (ours, pages of 100, what the tap uses)"
PAGE_SIZE = 100  # getCustomerInvoices pages


def write_pages(writer: OrjsonSingerWriter, messages: list[RecordMessage]) -> None:
    """Write the messages as the tap does: a page of records per call."""
    for start in range(0, len(messages), PAGE_SIZE):
        page = messages[start : start + PAGE_SIZE]
        records = [m.record for m in page]
        writer.write_records(STREAM, records, time_extracted=page[0].time_extracted)


def check_pages_match_sdk(messages: list[RecordMessage]) -> None:
    """Refuse to report numbers for pages that are not the SDK default's lines."""
    page = messages[:PAGE_SIZE]
    expected = b"".join((serialize_json(m.to_dict()) + "\n").encode() for m in page)
    with io.BytesIO() as buffer, io.TextIOWrapper(buffer) as sink:
        with contextlib.redirect_stdout(sink):
            write_pages(OrjsonSingerWriter(), page)
        if buffer.getvalue() != expected:
            raise SystemExit("write_records output differs from the SDK's")


def run_once(writer: GenericSingerWriter[t.Any, t.Any], messages: list[RecordMessage]) -> float:
    """CPU seconds to serialize and write every message to a null sink with a .buffer."""
    # A real file under the TextIOWrapper, so per-message flushes cost their real syscalls.
    with (
        open(os.devnull, "wb") as raw,  # noqa: PTH123 - we want the raw BufferedWriter
        io.TextIOWrapper(raw, encoding="utf-8") as sink,
        contextlib.redirect_stdout(sink),
    ):
        gc.collect()
        started = time.process_time()
        if isinstance(writer, _Pages):
            write_pages(writer, messages)
        else:
            for message in messages:
                writer.write_message(message)
        sink.flush()  # ours leaves the last records buffered; count their write too
        return time.process_time() - started


def main() -> None:
    """Run the interleaved benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    messages = build_messages(args.records)
    check_ours_matches_sdk(messages)
    check_pages_match_sdk(messages)
    factories = writer_factories()
    writers = {name: factory() for name, factory in factories.items()}
    timings: dict[str, list[float]] = {name: [] for name in writers}
    # Interleaved, so drift in machine load hits every writer alike.
    for _ in range(args.repeats):
        for name, writer in writers.items():
            timings[name].append(run_once(writer, messages))

    per_100k = {
        name: statistics.median(times) * 100_000 / args.records for name, times in timings.items()
    }
    ours = per_100k["OrjsonSingerWriter (ours)"]
    line_bytes = len(OrjsonSingerWriter().serialize_message(messages[0]))
    print(
        f"{args.records:,} RECORD messages of ~{line_bytes:,} bytes, median of {args.repeats} "
        f"interleaved runs, Python {sys.version.split()[0]}, stdout -> {os.devnull}\n"
    )
    print("| writer | median CPU s per 100k | records/s | ratio vs ours |")
    print("|---|---:|---:|---:|")
    for name, seconds in per_100k.items():
        print(f"| {name} | {seconds:.3f} | {100_000 / seconds:,.0f} | {seconds / ours:.2f}x |")


if __name__ == "__main__":
    main()
