"""Writer microbenchmark: CPU per 10,000 records of each stream, two writers side by side.

Writers, each writing the same messages to /dev/null the way the tap writes that stream
(a page of records at a time through ``write_records`` for the windowed streams without
children, one ``write_message`` per message for the others and for STATE):

- **baseline**: ``tap_spinvoices/output/writer.py`` as it was at ``--baseline`` (default
  694d793, the writer whose lines were byte-identical to the SDK default's), loaded from git;
- **tree**: ``OrjsonSingerWriter`` of this checkout;
- **SDK default**: singer-sdk's ``SimpleSingerWriter`` (simplejson), for scale (``--no-sdk``
  leaves it out).

Records are built as the streams build them, from realistic inputs: customer_invoices with a
20 KB Base64 PDF, invoices and invoice_exports from the emulator's Invoices API, and
invoice_documents (the raw NF-e XML and the fields nfelib read), invoice_items and
invoice_events from one emulator export document. Every writer's output is checked first:
each line must parse to what the SDK default writes (tests/parse_equal.py), or nothing is
printed.

Rounds are interleaved: each round runs every stream under every writer, the writers' order
flipping from round to round (A B, B A, ...), so drift in the machine's load hits both.
Figures are medians of the rounds' CPU time (``time.process_time``); the ratio is the median
of the per-round ratios tree / baseline.

    python benchmarks/bench_writer.py [--records 10000] [--repeats 9] [--baseline 694d793]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime as dt
import gc
import io
import os
import random
import statistics
import subprocess
import sys
import time
import types
import typing as t
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/bench_writer.py` puts benchmarks/ first
    sys.path.insert(0, str(ROOT))

from singer_sdk.singerlib.encoding.simple import (  # noqa: E402
    Message,
    RecordMessage,
    SimpleSingerWriter,
    StateMessage,
)

from benchmarks.bench_nfe import START, invoices_api  # noqa: E402
from benchmarks.bench_sync import git_commit, machine_line  # noqa: E402
from tap_spinvoices.account import ACCOUNT_ID  # noqa: E402
from tap_spinvoices.output.writer import OrjsonSingerWriter  # noqa: E402
from tap_spinvoices.streams.customer_invoices import build_record, window_fields  # noqa: E402
from tap_spinvoices.streams.invoice_documents import document_record  # noqa: E402
from tap_spinvoices.streams.invoices_api import export_record, invoice_record  # noqa: E402
from tap_spinvoices.sync.windows import Window  # noqa: E402
from tests.parse_equal import read_lines  # noqa: E402

BASELINE = "694d793"  # the last commit whose writer wrote the SDK default's bytes
WRITER_PATH = "tap_spinvoices/output/writer.py"
PAGE_SIZE = 100  # getCustomerInvoices and getInvoices pages
PDF_BYTES = 15_000  # 20,000 Base64 characters
POOL = 64  # distinct PDFs, reused so many records stay small in memory
NFE_POOL = 200  # NF-e of the emulator document the document, item and event records come from
CHECKED = 300  # messages of each stream checked for parse equality before timing
MARKETPLACE = "A2Q3Y263D00KWC"  # Amazon.com.br
ACCOUNT = "default"


@dataclasses.dataclass
class Workload:
    """The messages of one stream, and how the tap hands them to the writer."""

    title: str
    stream: str
    records: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    states: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    pages: bool = False  # write_records a page at a time (else one message per record)
    messages: list[Message] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        """Build the messages: time_extracted per record (the SDK) or per page (the tap)."""
        extracted = dt.datetime(2026, 11, 30, 3, 0, 0, 15474, tzinfo=dt.UTC)
        step = dt.timedelta(microseconds=137)
        if self.states:
            self.messages = [StateMessage(value=state) for state in self.states]
        else:
            per_time = PAGE_SIZE if self.pages else 1  # the page path takes it once a page
            self.messages = [
                RecordMessage(self.stream, record, time_extracted=extracted + i // per_time * step)
                for i, record in enumerate(self.records)
            ]

    def write(self, writer: t.Any) -> None:  # noqa: ANN401 - any Singer writer
        """Write every message as the tap would with ``writer``."""
        if self.pages and hasattr(writer, "write_records"):  # the SDK's writer writes messages
            for start in range(0, len(self.messages), PAGE_SIZE):
                page = t.cast("list[RecordMessage]", self.messages[start : start + PAGE_SIZE])
                writer.write_records(
                    self.stream, [m.record for m in page], time_extracted=page[0].time_extracted
                )
        else:
            for message in self.messages:
                writer.write_message(message)

    def head(self, count: int) -> Workload:
        """The first ``count`` messages as a workload of their own."""
        return dataclasses.replace(
            self, records=self.records[:count], states=self.states[:count], messages=[]
        )


def cycle(pool: list[dict[str, t.Any]], count: int) -> list[dict[str, t.Any]]:
    """``count`` records taken round the pool; copies, since a page writer may pop keys."""
    return [dict(pool[i % len(pool)]) for i in range(count)]


def customer_invoices(count: int) -> list[dict[str, t.Any]]:
    rng = random.Random(17)
    contents = [base64.b64encode(rng.randbytes(PDF_BYTES)).decode() for _ in range(POOL)]
    window = Window(START, START + dt.timedelta(days=1))
    shared = window_fields(window, "WH001", "v1")
    records = []
    for i in range(count):
        invoice = {"purchaseOrderNumber": f"{i:08d}", "content": contents[i % POOL]}
        record = build_record(invoice, shared, frozenset())
        record[ACCOUNT_ID] = ACCOUNT
        records.append(record)
    return records


def invoices_api_workloads(count: int) -> list[Workload]:
    """invoices, invoice_exports, invoice_documents, invoice_items, invoice_events."""
    api = invoices_api(NFE_POOL)
    window = Window(START, START + dt.timedelta(days=3))
    end = window.end - dt.timedelta(microseconds=1)
    invoices = [invoice_record(i.to_json(), MARKETPLACE, window) for i in api.invoices(START, end)]
    views = api.exports(START, end)
    exports = [export_record(v.to_json(), MARKETPLACE, window) for v in views]
    documents, items, events = [], [], []
    (document_id, *_) = views[0].document_ids
    with zipfile.ZipFile(io.BytesIO(api.document_zip(document_id))) as zipped:
        files = [(info.filename, zipped.read(info)) for info in zipped.infolist()]
    for name, data in files:
        record, outcome = document_record(
            name,
            data,
            document_id=document_id,
            export_id=views[0].export_id,
            marketplace=MARKETPLACE,
        )
        record[ACCOUNT_ID] = ACCOUNT
        documents.append(record)
        # What InvoiceDocumentsStream hands its children: the row and the document's keys.
        source = {key: record[key] for key in ("invoiceId", "invoicesDocumentId", "exportId")}
        source |= {"marketplaceId": MARKETPLACE, ACCOUNT_ID: ACCOUNT}
        items += [{**row, **source} for row in outcome.items]
        events += [{**row, **source} for row in outcome.events]
    for pool in (invoices, exports, documents):
        for record in pool:
            record[ACCOUNT_ID] = ACCOUNT
    return [
        Workload("invoices (pages)", "invoices", cycle(invoices, count), pages=True),
        Workload("invoice_exports (per message)", "invoice_exports", cycle(exports, count)),
        Workload("invoice_documents (per message)", "invoice_documents", cycle(documents, count)),
        Workload("invoice_items (per message)", "invoice_items", cycle(items, count)),
        Workload("invoice_events (per message)", "invoice_events", cycle(events, count)),
    ]


def states(count: int) -> list[dict[str, t.Any]]:
    """STATE values as a run writes them: a bookmark per partition, done document ids."""
    values = []
    for i in range(count):
        moment = (START + dt.timedelta(hours=i)).isoformat()
        partitions = [
            {
                "context": {"ship_from_party_id": f"WH{p:03d}"},
                "replication_key": "window_end",
                "replication_key_value": moment,
            }
            for p in range(2)
        ]
        values.append(
            {
                "bookmarks": {
                    "customer_invoices": {"partitions": partitions},
                    "invoices": {
                        "partitions": [
                            {
                                "context": {"marketplaceId": MARKETPLACE},
                                "replication_key": "window_end",
                                "replication_key_value": moment,
                            }
                        ]
                    },
                    "invoice_documents": {
                        "done_document_ids": [f"doc-{d:06d}" for d in range(i % 20)]
                    },
                }
            }
        )
    return values


def workloads(count: int) -> list[Workload]:
    invoices = customer_invoices(count)
    return [
        Workload(
            "customer_invoices (pages, as the tap writes it)",
            "customer_invoices",
            invoices,
            pages=True,
        ),
        Workload(
            "customer_invoices (per message: stream maps, BATCH...)",
            "customer_invoices",
            [dict(r) for r in invoices],
        ),
        *invoices_api_workloads(count),
        Workload("STATE (per message, flushed)", "", states=states(count)),
    ]


def load_writer_at(commit: str) -> type:
    """``OrjsonSingerWriter`` as ``tap_spinvoices/output/writer.py`` defined it at ``commit``."""
    shown = subprocess.run(
        ["git", "show", f"{commit}:{WRITER_PATH}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode != 0:
        msg = f"cannot read {WRITER_PATH} at {commit} (a clone with history is needed): "
        raise SystemExit(msg + shown.stderr.strip())
    name = f"writer_at_{commit}"
    module = types.ModuleType(name)
    module.__file__ = f"{commit}:{WRITER_PATH}"
    sys.modules[name] = module
    exec(compile(shown.stdout, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own file
    return t.cast("type", module.OrjsonSingerWriter)


@contextlib.contextmanager
def stdout_to(sink: t.BinaryIO) -> t.Iterator[None]:
    """``sys.stdout`` as a text stream over ``sink``, flushed at the end, ``sink`` left open."""
    text = io.TextIOWrapper(sink, encoding="utf-8")
    try:
        with contextlib.redirect_stdout(text):
            yield
        text.flush()
    finally:
        text.detach()


def output_of(writer: t.Any, workload: Workload) -> bytes:  # noqa: ANN401 - any Singer writer
    buffer = io.BytesIO()
    with stdout_to(buffer):
        workload.write(writer)
    return buffer.getvalue()


def check_parse_equal(
    writers: dict[str, t.Any], all_work: list[Workload]
) -> dict[str, tuple[float, float]]:
    """Refuse to time a writer whose lines do not parse to the SDK's; line sizes."""
    sizes = {}
    for work in all_work:
        sample = work.head(CHECKED)
        expected = read_lines(output_of(SimpleSingerWriter(), sample))
        for name, writer in writers.items():
            output = output_of(writer, sample)
            if read_lines(output) != expected:
                raise SystemExit(f"{name}: {work.title} lines do not parse to the SDK's")
        lines = output_of(OrjsonSingerWriter(), sample).splitlines()
        sizes[work.title] = (
            statistics.mean(map(len, lines)),
            sum(not line.isascii() for line in lines) / len(lines),
        )
    return sizes


def run_once(writer: t.Any, workload: Workload) -> float:  # noqa: ANN401 - any Singer writer
    """CPU seconds to write the workload to /dev/null (a real file: flushes cost syscalls)."""
    with open(os.devnull, "wb") as raw, stdout_to(raw):  # noqa: PTH123 - a BufferedWriter
        gc.collect()
        started = time.process_time()
        workload.write(writer)
        sys.stdout.flush()  # records left in the buffer are written too
        return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000, help="messages per stream")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved rounds")
    parser.add_argument("--baseline", default=BASELINE, help="commit of the baseline writer")
    parser.add_argument("--no-sdk", action="store_true", help="leave out the SDK default")
    args = parser.parse_args()

    baseline = f"baseline ({args.baseline})"
    tree = "tree"
    writers: dict[str, t.Any] = {
        baseline: load_writer_at(args.baseline)(),
        tree: OrjsonSingerWriter(),
    }
    if not args.no_sdk:
        writers["SDK default"] = SimpleSingerWriter()
    all_work = workloads(args.records)
    sizes = check_parse_equal(writers, all_work)

    cpu: dict[tuple[str, str], list[float]] = {}
    names = list(writers)
    for work in all_work:  # one untimed round: lazy imports, caches
        for name in names:
            run_once(writers[name], work.head(PAGE_SIZE))
    for round_number in range(args.repeats):
        order = names if round_number % 2 == 0 else names[::-1]
        for work in all_work:
            for name in order:
                cpu.setdefault((work.title, name), []).append(run_once(writers[name], work))

    per_10k = 10_000 / args.records
    print(f"Machine: {machine_line()}")
    print(f"Commit: {git_commit()}; baseline writer: {WRITER_PATH} at {args.baseline}")
    print(
        f"{args.records:,} messages per stream, {args.repeats} interleaved rounds, medians of "
        f"CPU seconds (process time) per 10,000 messages, stdout -> {os.devnull}\n"
    )
    header = (
        "| stream (how the tap writes it) | line bytes | non-ASCII lines "
        f"| {baseline} | {tree} | {tree} / baseline (min-max) |"
    )
    rule = "|---|---:|---:|---:|---:|---:|"
    if "SDK default" in writers:
        header += " SDK default |"
        rule += "---:|"
    print(header)
    print(rule)
    for work in all_work:
        before, after = cpu[(work.title, baseline)], cpu[(work.title, tree)]
        ratios = [a / b for a, b in zip(after, before, strict=True)]
        size, non_ascii = sizes[work.title]
        row = (
            f"| {work.title} | {size:,.0f} | {non_ascii:.0%} "
            f"| {statistics.median(before) * per_10k:.3f} "
            f"| {statistics.median(after) * per_10k:.3f} | {statistics.median(ratios):.2f} "
            f"({min(ratios):.2f}-{max(ratios):.2f}) |"
        )
        if "SDK default" in writers:
            row += f" {statistics.median(cpu[(work.title, 'SDK default')]) * per_10k:.3f} |"
        print(row)


if __name__ == "__main__":
    main()
