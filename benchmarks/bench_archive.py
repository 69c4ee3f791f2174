"""The document archive's cost: the same backfill with the archive off, on local disk, on S3.

    python benchmarks/bench_archive.py                 # (a) x 3 archives, (c) x 2: ~12 minutes
    python benchmarks/bench_archive.py --quick         # smaller datasets: ~3 minutes
    python benchmarks/bench_archive.py --repeats 3 --only backfill
    python benchmarks/bench_archive.py --repeats 3 --only nfe   # the NF-e files only

Scenarios and checks are bench_sync.py's (a fresh emulator process per run, the tap as
users run it, every purchase order number written once, the final bookmark at the end of the
range); archives side by side in one run, interleaved (off, folder, s3, off, folder, ...):

- ``off``: no archive_url (today's tap);
- ``folder``: a local folder on this machine's disk (fsync per file, see stores.py);
- ``s3``: SeaweedFS (``weed mini``, tests/archive/seaweed.py) on loopback, credentials on.

Each archived run is also checked: the archive holds exactly one object per record written.
Besides bench_sync's figures: **files/s** (objects stored over the tap's wall time), **tap CPU
per 10k documents**, and the S3 server's own CPU (not charged to the tap).

``nfe``: bench_nfe.py's tap run (invoice_exports, invoice_documents, invoice_items and
invoice_events over one export document of 1,000 NF-e and their cancellation events, parsed by
nfelib), each XML file archived; the same columns, documents being the XML files. Its wall
time holds one getInvoicesDocument call and the download, as in bench_nfe.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import obstore  # noqa: E402
from obstore.store import S3Store  # noqa: E402

from benchmarks.bench_nfe import one_document  # noqa: E402
from benchmarks.bench_nfe import tap_run as nfe_tap_run  # noqa: E402
from benchmarks.bench_sync import (  # noqa: E402
    Result,
    Scenario,
    emulator_process,
    expected_numbers,
    git_commit,
    machine_line,
    parse_settings,
    run_tap,
    scenarios,
    utilisation,
)
from tests.archive.seaweed import BUCKET, WRITER, SeaweedServer, start_server  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

ARCHIVES = ("off", "folder", "s3")
NFE_KEY = "nfe"
NFE_INVOICES = 1000
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ArchivedRun:
    result: Result
    stored: int
    server_cpu_s: float


class Archives:
    """Where each mode's runs archive to: a temp folder, or a prefix of one S3 server."""

    def __init__(self, root: Path, server: SeaweedServer | None) -> None:
        self.root = root
        self.server = server

    def settings(self, mode: str, run_id: str) -> dict[str, Any]:
        if mode == "off":
            return {}
        if mode == "folder":
            folder = self.root / run_id
            folder.mkdir()
            return {"archive_url": str(folder)}
        server = self._server()
        return {
            "archive_url": server.url(run_id),
            "archive_options": {
                "endpoint": server.endpoint,
                "region": "us-east-1",
                "access_key_id": WRITER.access_key_id,
                "secret_access_key": WRITER.secret_access_key,
            },
        }

    def count(self, mode: str, run_id: str) -> int:
        if mode == "off":
            return 0
        if mode == "folder":
            return sum(len(files) for _, _, files in os.walk(self.root / run_id))
        store = S3Store(
            BUCKET,
            prefix=run_id,
            endpoint=self._server().endpoint,
            region="us-east-1",
            access_key_id=WRITER.access_key_id,
            secret_access_key=WRITER.secret_access_key,
            client_options={"allow_http": True},
        )
        return sum(len(batch) for batch in obstore.list(store))

    def _server(self) -> SeaweedServer:
        if self.server is None:
            raise SystemExit("no S3 server: add s3 to --archives")
        return self.server

    def server_cpu_s(self) -> float:
        if self.server is None or self.server.process is None:
            return 0.0
        fields = Path(f"/proc/{self.server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def run_once(
    scenario: Scenario, mode: str, archives: Archives, extra: dict[str, Any]
) -> ArchivedRun:
    run_id = f"{scenario.key}-{mode}-{uuid.uuid4().hex[:8]}"
    expected = expected_numbers(scenario)
    server_before = archives.server_cpu_s()
    with emulator_process(scenario.emulator_args(), scenario.key) as url:
        settings = archives.settings(mode, run_id)
        settings |= {k: v for k, v in extra.items() if mode != "off" or not k.startswith("archive")}
        result, numbers = run_tap(scenario, url, settings)
    server_cpu = archives.server_cpu_s() - server_before if mode == "s3" else 0.0
    if numbers != expected:
        raise SystemExit(f"{scenario.key}/{mode}: the records are not the dataset")
    stored = archives.count(mode, run_id)
    if mode != "off" and stored != result.records:
        raise SystemExit(f"{scenario.key}/{mode}: {stored} objects for {result.records} records")
    return ArchivedRun(result, stored, server_cpu)


def row(scenario: Scenario, mode: str, runs: list[ArchivedRun]) -> str:
    median = statistics.median
    pick = sorted(runs, key=lambda r: r.result.wall_s)[len(runs) // 2]
    result = pick.result
    util = f"{utilisation(result):.3f}" if scenario.rate_bound else "n/a"
    cpu_10k = median(r.result.cpu_s for r in runs) / result.records * 10_000
    files = f"{pick.stored / result.wall_s:,.0f}" if mode != "off" else "-"
    server = f"{median(r.server_cpu_s for r in runs):.1f}" if mode == "s3" else "-"
    return (
        f"| {scenario.title} | {mode} | {result.records:,} | {pick.stored:,} "
        f"| {result.wall_s:.1f} | {util} | {sum(r.result.throttled for r in runs)} | {files} "
        f"| {cpu_10k:.3f} | {server} | {median(r.result.maxrss_mb for r in runs):.0f} |"
    )


def nfe_run_once(mode: str, archives: Archives, extra: dict[str, Any]) -> dict[str, float]:
    """bench_nfe's tap run with this archive; checked: one object per XML file written."""
    run_id = f"{NFE_KEY}-{mode}-{uuid.uuid4().hex[:8]}"
    settings = archives.settings(mode, run_id)
    settings |= {k: v for k, v in extra.items() if mode != "off" or not k.startswith("archive")}
    _, nfe_files, _ = one_document(NFE_INVOICES)
    server_before = archives.server_cpu_s()
    result = nfe_tap_run(NFE_INVOICES, nfe_files, settings)
    result["server_cpu_s"] = archives.server_cpu_s() - server_before if mode == "s3" else 0.0
    result["stored"] = archives.count(mode, run_id)
    if mode != "off" and result["stored"] != result["documents"]:
        raise SystemExit(f"nfe/{mode}: {result['stored']} objects for {result['documents']} files")
    return result


def nfe_row(mode: str, runs: list[dict[str, float]]) -> str:
    median = statistics.median
    pick = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    documents = pick["documents"]
    cpu_10k = median(r["cpu"] for r in runs) / documents * 10_000
    files = f"{pick['stored'] / pick['wall']:,.0f}" if mode != "off" else "-"
    server = f"{median(r['server_cpu_s'] for r in runs):.1f}" if mode == "s3" else "-"
    return (
        f"| NF-e: 1 document, {NFE_INVOICES:,} NF-e + events | {mode} | {documents:,.0f} "
        f"| {pick['stored']:,.0f} | {pick['wall']:.1f} | n/a | - | {files} | {cpu_10k:.3f} "
        f"| {server} | {median(r['rss_mb'] for r in runs):.0f} |"
    )


@contextlib.contextmanager
def archives_for(modes: list[str]) -> Iterator[Archives]:
    server = start_server() if "s3" in modes else None
    try:
        with tempfile.TemporaryDirectory(prefix="spinvoices-bench-archive-") as tmp:
            yield Archives(Path(tmp), server)
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller datasets")
    parser.add_argument("--repeats", type=int, default=1, help="runs per scenario and archive")
    parser.add_argument(
        "--only", default="backfill,memory,nfe", help="scenario keys (bench_sync's, and nfe)"
    )
    parser.add_argument("--archives", default=",".join(ARCHIVES), help="off,folder,s3")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="extra tap setting, e.g. --set archive_uploads_in_flight=128",
    )
    args = parser.parse_args()
    extra = parse_settings(args.set)
    modes = [m for m in args.archives.split(",") if m]
    chosen = [s for s in scenarios(quick=args.quick) if s.key in args.only.split(",")]

    print(f"Machine: {machine_line()}; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"Commit: {git_commit()}")
    size = "quick" if args.quick else "full"
    print(f"Mode: {size}, {args.repeats} run(s) per row, the archives interleaved", end="")
    print(f", tap settings {extra}\n" if extra else "\n")
    print(
        "| scenario | archive | records | objects stored | wall s | utilisation | 429s "
        "| files/s | tap CPU s per 10k documents | S3 server CPU s | peak RSS MB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with archives_for(modes) as archives:
        for scenario in chosen:
            runs: dict[str, list[ArchivedRun]] = {mode: [] for mode in modes}
            for _ in range(args.repeats):
                for mode in modes:
                    runs[mode].append(run_once(scenario, mode, archives, extra))
            for mode in modes:
                print(row(scenario, mode, runs[mode]), flush=True)
        if NFE_KEY in args.only.split(","):
            nfe_runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
            for _ in range(args.repeats):
                for mode in modes:
                    nfe_runs[mode].append(nfe_run_once(mode, archives, extra))
            for mode in modes:
                print(nfe_row(mode, nfe_runs[mode]), flush=True)
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
