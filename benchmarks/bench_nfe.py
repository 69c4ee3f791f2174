"""NF-e parsing: NF-e per second and peak RSS for one export document of 1,000 NF-e.

Two measurements, each repeated and reported as medians:

- **parser**: in this process, ``tap_spinvoices.nfe.parse.parse_xml`` over every file of one
  ZIP of 1,000 emulator NF-e (schema-valid, 2-4 items each, plus the cancellation events of
  the CANCELED ones): files per second, NF-e per second, MB of XML per second.
- **tap**: the tap as users run it (a subprocess) on invoice_exports, invoice_documents,
  invoice_items and invoice_events, against an emulator process whose range holds exactly one
  DONE export with one document of 1,000 NF-e: wall time, tap CPU (``os.wait4``), peak RSS
  (``ru_maxrss``), NF-e per wall second, and a check that every NF-e and item arrived.

    python benchmarks/bench_nfe.py [--repeats 5] [--invoices 1000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_sync import (  # noqa: E402
    CREDENTIALS,
    emulator_process,
    emulator_stats,
    git_commit,
    machine_line,
    tap_command,
    tap_env,
)
from spapi_emulator import EmulatorConfig  # noqa: E402
from spapi_emulator.invoices.exports import InvoicesApi  # noqa: E402
from tap_spinvoices.nfe.fields import PARSED  # noqa: E402
from tap_spinvoices.nfe.parse import parse_xml  # noqa: E402
from tests.singer_run import catalog_selecting, parse_messages  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)
STREAMS = ("invoice_exports", "invoice_documents", "invoice_items", "invoice_events")


def emulator_args(invoices: int) -> list[str]:
    """Three days of exports; the first one DONE, one document of ``invoices`` NF-e."""
    return [
        "--days=3",
        f"--invoices-api-per-day={invoices}",
        f"--invoices-per-document={invoices}",
        "--export-history-error-rate=0",
        "--export-history-pending=0",
        "--time-scale=600",
    ]


def invoices_api(invoices: int) -> InvoicesApi:
    """The emulator's Invoices API as ``emulator_args(invoices)`` configures it, in process."""
    config = EmulatorConfig(days=3, invoices_api_per_day=invoices, invoices_per_document=invoices)
    return InvoicesApi(config, clock=time.monotonic, wall_clock=lambda: datetime.now(UTC))


def one_document(invoices: int) -> tuple[bytes, int, int]:
    """(ZIP bytes, NF-e files, event files) of the first day's document, as served."""
    api = invoices_api(invoices)
    view = api.exports(START, START + timedelta(days=1) - timedelta(microseconds=1))[0]
    (document_id,) = view.document_ids
    files = api.document_files(document_id)
    events = sum(name.endswith("-procEventoNFe.xml") for name, _, _ in files)
    return api.document_zip(document_id), len(files) - events, events


def parser_run(archive: bytes) -> tuple[float, float, int, int]:
    """Wall and CPU seconds to parse every file of the ZIP, files, XML bytes (not inflating)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        files = [zipped.read(info) for info in zipped.infolist()]
    started, cpu_started = time.perf_counter(), time.process_time()
    outcomes = [parse_xml(data) for data in files]
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if any(o.status != PARSED for o in outcomes):
        raise SystemExit("an emulator NF-e did not parse")
    return elapsed, cpu, len(files), sum(map(len, files))


def tap_run(
    invoices: int, expected_nfe: int, settings: dict[str, object] | None = None
) -> dict[str, float]:
    """The tap on one document of ``invoices`` NF-e; ``settings`` added to its config."""
    with emulator_process(["--port", "0", *emulator_args(invoices)], "bench_nfe") as url:
        config = {
            **CREDENTIALS,
            "start_date": START.isoformat(),
            "end_date": (START + timedelta(days=1)).isoformat(),
            "api_url": url,
            "lwa_token_url": f"{url}/auth/o2/token",
            **(settings or {}),
        }
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "config.json").write_text(json.dumps(config))
            Path(tmp, "catalog.json").write_text(json.dumps(catalog_selecting(STREAMS)))
            env = tap_env()
            out = Path(tmp, "out")
            started = time.perf_counter()
            with out.open("wb") as sink:
                tap = subprocess.Popen(
                    tap_command(Path(tmp, "config.json"), Path(tmp, "catalog.json")),
                    cwd=ROOT,
                    stdout=sink,
                    stderr=subprocess.DEVNULL,
                    env=env,
                    stdin=subprocess.DEVNULL,
                )
                _, status, usage = os.wait4(tap.pid, 0)
            wall = time.perf_counter() - started
            stdout = out.read_bytes()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("tap failed")
        stats = emulator_stats(url)["operations"]
    messages = parse_messages(stdout)
    documents = [
        m["record"]
        for m in messages
        if m["type"] == "RECORD" and m["stream"] == "invoice_documents"
    ]
    nfe = [r for r in documents if r["document_type"] == "nfeProc" and r["parse_status"] == PARSED]
    if len(nfe) != expected_nfe or stats.get("getInvoicesDocument", {}).get("requests") != 1:
        raise SystemExit(f"expected {expected_nfe} NF-e from one document, got {len(nfe)}")
    items = sum(m["type"] == "RECORD" and m["stream"] == "invoice_items" for m in messages)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "nfe_per_s": len(nfe) / wall,
        "items": items,
        "documents": len(documents),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--invoices", type=int, default=1000)
    args = parser.parse_args()

    archive, nfe_files, event_files = one_document(args.invoices)
    parsed = [parser_run(archive) for _ in range(args.repeats)]
    seconds = statistics.median(p[0] for p in parsed)
    cpu_seconds = statistics.median(p[1] for p in parsed)
    files, xml_bytes = parsed[0][2], parsed[0][3]
    taps = [tap_run(args.invoices, nfe_files) for _ in range(args.repeats)]

    def median(key: str) -> float:
        return statistics.median(t[key] for t in taps)

    print(f"Machine: {machine_line()}")
    print(f"Commit: {git_commit()}")
    print(
        f"One ZIP: {nfe_files} NF-e + {event_files} cancellation events, "
        f"{len(archive) / 1e6:.2f} MB zipped, {xml_bytes / 1e6:.2f} MB of XML; "
        f"medians of {args.repeats} runs"
    )
    print(
        f"parser: {seconds:.2f} s wall, {cpu_seconds:.2f} s CPU for {files} files = "
        f"{nfe_files / seconds:.0f} NF-e/s wall, {nfe_files / cpu_seconds:.0f} NF-e per CPU "
        f"second (the events' time included), {xml_bytes / 1e6 / cpu_seconds:.1f} MB XML per "
        "CPU second"
    )
    print(
        f"tap (exports + documents + items + events): wall {median('wall'):.2f} s, "
        f"CPU {median('cpu'):.2f} s, peak RSS {median('rss_mb'):.0f} MB, "
        f"{median('nfe_per_s'):.0f} NF-e/s end to end, {median('items'):.0f} items"
    )


if __name__ == "__main__":
    main()
