"""Hostile export documents: the tap's peak RSS per case, against the 400 MB bound (issue 18).

For each case a fresh emulator process serves every export document broken one way
(``--document-shape``, spapi_emulator/invoices/hostile_documents.py; none a claim about Amazon),
and the tap runs as users run it on invoice_exports + invoice_documents + invoice_items +
invoice_events, its stdout written to a file. Printed per case: the exit code (checked
against the one the case must end with), records, WARNING and ERROR lines, wall time, tap
CPU and peak RSS (``ru_maxrss`` from ``os.wait4``). A case that ends otherwise than it must,
or with a traceback, stops the benchmark.

The bomb is the whole one: 2 GiB of zeros in a ZIP of 2 MB. The endless download runs into
the default max_document_mb (1 GiB, spooled to a temporary file).

    python benchmarks/bench_hostile_documents.py [--only bomb,endless]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_sync import (  # noqa: E402
    emulator_process,
    git_commit,
    machine_line,
    tap_command,
    tap_env,
)
from tests.singer_run import catalog_selecting  # noqa: E402

STREAMS = ("invoice_exports", "invoice_documents", "invoice_items", "invoice_events")
START, END = "2024-01-01T00:00:00Z", "2024-01-11T00:00:00Z"
# 12 days of exports at 600x: getInvoicesDocument allows 10 calls a second.
EMULATOR = ["--days", "12", "--time-scale", "600", "--invoices-api-per-day", "6"]
RSS_BOUND_MB = 400
MB = 1 << 20


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    emulator: list[str]
    exit_code: int
    settings: dict[str, Any] = field(default_factory=dict)


CASES = (
    Case("whole", "the documents as the model describes them", [], 0),
    Case("bomb", "bomb.xml: 2 GiB of zeros, deflated to 2 MB", ["--document-shape", "bomb"], 1),
    Case(
        "large-files",
        "NF-e XML files of 15 MB (max_record_mb 16), 4 days",
        ["--nfe-xml-bytes", "15000000", "--days", "4"],
        0,
    ),
    Case("nested", "a ZIP in the ZIP, a ZIP in that", ["--document-shape", "nested"], 0),
    Case("not-xml", "README.txt and logo.png besides the XML", ["--document-shape", "not-xml"], 0),
    Case("non-utf8-bytes", "XML in ISO-8859-1", ["--document-shape", "non-utf8-bytes"], 0),
    Case("truncated-once", "first download cut in half", ["--document-shape", "truncated-once"], 0),
    Case("corrupt", "deflate data flipped", ["--document-shape", "corrupt"], 1),
    Case(
        "endless",
        "a download that never ends (max_document_mb 1024)",
        ["--document-shape", "endless"],
        1,
    ),
)


@dataclass(frozen=True)
class Result:
    exit_code: int
    records: int
    warnings: int
    error: str
    wall_s: float
    cpu_s: float
    maxrss_mb: float


def run_case(case: Case) -> Result:
    # A later flag wins: a case's --days replaces the default's.
    with (
        emulator_process([*EMULATOR, *case.emulator], case.name) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        end = "2024-01-03T00:00:00Z" if "--days" in case.emulator else END
        config = {
            "lwa_client_id": "emulator-client-id",
            "lwa_client_secret": "emulator-client-secret",
            "refresh_token": "Atzr|emulator-refresh-token",
            "start_date": START,
            "end_date": end,
            "api_url": url,
            "lwa_token_url": f"{url}/auth/o2/token",
            **case.settings,
        }
        Path(tmp, "config.json").write_text(json.dumps(config))
        Path(tmp, "catalog.json").write_text(json.dumps(catalog_selecting(STREAMS)))
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        started = time.perf_counter()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                tap_command(Path(tmp, "config.json"), Path(tmp, "catalog.json")),
                cwd=ROOT,
                env=tap_env(),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        log = err.read_text()
        records = count_records(out)
    if "Traceback" in log:
        raise SystemExit(f"{case.name}: a traceback\n{log[-3000:]}")
    errors = [line for line in log.splitlines() if "| ERROR" in line]
    if proc.returncode != case.exit_code or len(errors) != case.exit_code:
        raise SystemExit(
            f"{case.name}: exit {proc.returncode}, {len(errors)} ERROR lines\n{log[-3000:]}"
        )
    return Result(
        exit_code=proc.returncode,
        records=records,
        warnings=sum(1 for line in log.splitlines() if "| WARNING" in line),
        error=errors[0].split("| ", 3)[-1] if errors else "",
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        maxrss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
    )


def count_records(path: Path) -> int:
    """RECORD messages in the tap's stdout, read 1 MB at a time.

    A child starts with this process's peak RSS (Linux keeps ``ru_maxrss`` across exec), so
    the benchmark never holds a line of the tap's output (up to 20 MB) whole.
    """
    marker = b'\n{"type":"RECORD"'
    count, tail = 0, b"\n"
    with path.open("rb") as stdout:
        while chunk := stdout.read(MB):
            window = tail + chunk
            count += window.count(marker)
            tail = window[-len(marker) + 1 :]
    return count


def shortened(line: str) -> str:
    """The error line without the document and export ids, to fit a table cell."""
    _, _, cause = line.partition(" of export ")
    return cause.split(" ", 1)[-1].split(". Fix:")[0] if cause else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated case names")
    args = parser.parse_args()
    chosen = [c for c in CASES if not args.only or c.name in args.only.split(",")]
    load = os.getloadavg()
    print(f"Machine: {machine_line()}")
    print(f"Commit: {git_commit()}")
    print(f"Load average at the start: {load[0]:.1f}\n")
    print(
        "| case | what the emulator serves | exit | records | WARNING lines | ERROR line (cause) "
        "| wall s | tap CPU s | peak RSS MB |"
    )
    print("|---|---|---:|---:|---:|---|---:|---:|---:|")
    worst = 0.0
    for case in chosen:
        result = run_case(case)
        worst = max(worst, result.maxrss_mb)
        print(
            f"| {case.name} | {case.what} | {result.exit_code} | {result.records:,} | "
            f"{result.warnings} | {shortened(result.error)} | {result.wall_s:.1f} | "
            f"{result.cpu_s:.1f} | {result.maxrss_mb:.0f} |",
            flush=True,
        )
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}")
    print(
        f"Highest peak RSS: {worst:.0f} MB (bound {RSS_BOUND_MB} MB): "
        f"{'held' if worst < RSS_BOUND_MB else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
