"""Export documents at getInvoicesDocument's ~1/min budget: utilisation and expired URLs.

Runs the emulator in its own process with a time scale (the budget, 1 call a minute burst 1,
becomes ``time_scale`` calls a minute; the 30-second URL lifetime stays real), then the tap
on invoice_exports + invoice_documents, and prints:

- getInvoicesDocument calls, the budget over the tap's wall time (burst + rate x wall), and
  utilisation = calls / budget (target >= 0.95);
- URLs that expired before their download (target 0);
- records, and that every XML of every DONE export arrived exactly once.

    python benchmarks/bench_documents.py [--days 40] [--time-scale 60]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_sync import (  # noqa: E402
    emulator_stats,
    git_commit,
    machine_line,
    tap_command,
    tap_env,
)
from spapi_emulator import EmulatorConfig, EmulatorServer  # noqa: E402
from tests.singer_run import catalog_selecting, parse_messages  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)
DOCUMENT_RATE_PER_S = 1 / 60  # getInvoicesDocument usage plan: 0.0167 rps, burst 1
DOCUMENT_BURST = 1


def emulator(days: int, time_scale: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spapi_emulator",
            "--port",
            "0",
            "--days",
            str(days),
            "--invoices-per-day",
            "1",
            "--time-scale",
            str(time_scale),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def expected_invoice_ids(days: int, end: datetime) -> set[str]:
    """Invoice ids in the documents of the exports a complete listing finds DONE."""
    # The same seed and config as the emulator process builds the same dataset; history
    # exports older than the newest two are settled (DONE or ERROR) from the start.
    with EmulatorServer(EmulatorConfig(days=days, invoices_per_day=1)) as local:
        api = local.invoices_api
        views = api.exports(START, end - timedelta(microseconds=1))
        return {
            invoice_id
            for view in views
            if view.status == "DONE"
            for document_id in view.document_ids
            for invoice_id in api.document_invoice_ids(document_id)
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--time-scale", type=float, default=60.0)
    args = parser.parse_args()
    # The two newest exports are still unfinished at the start; leave them out of the range.
    end = START + timedelta(days=args.days - 2)
    proc = emulator(args.days, args.time_scale)
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        config = {
            "lwa_client_id": "emulator-client-id",
            "lwa_client_secret": "emulator-client-secret",
            "refresh_token": "Atzr|emulator-refresh-token",
            "start_date": START.isoformat(),
            "end_date": end.isoformat(),
            "api_url": url,
            "lwa_token_url": f"{url}/auth/o2/token",
        }
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "config.json").write_text(json.dumps(config))
            catalog = catalog_selecting(("invoice_exports", "invoice_documents"))
            Path(tmp, "catalog.json").write_text(json.dumps(catalog))
            env = tap_env()
            started = time.perf_counter()
            run = subprocess.run(
                tap_command(Path(tmp, "config.json"), Path(tmp, "catalog.json")),
                cwd=ROOT,
                capture_output=True,
                env=env,
                check=False,
                stdin=subprocess.DEVNULL,
            )
            wall = time.perf_counter() - started
        if run.returncode != 0:
            raise SystemExit(f"tap failed:\n{run.stderr.decode()[-2000:]}")
        stats = emulator_stats(url)["operations"]
    finally:
        proc.terminate()
        proc.wait(10)
    records = [
        m["record"]
        for m in parse_messages(run.stdout)
        if m["type"] == "RECORD" and m["stream"] == "invoice_documents"
    ]
    # Event files (procEventoNFe) ride in the same ZIPs beside their invoice: not invoices.
    ids = [r["invoiceId"] for r in records if r.get("document_type") != "procEventoNFe"]
    complete = len(ids) == len(set(ids)) and set(ids) == expected_invoice_ids(args.days, end)
    calls = stats.get("getInvoicesDocument", {}).get("requests", 0)
    expired = stats.get("s3DownloadExpired", {}).get("requests", 0)
    budget = DOCUMENT_BURST + DOCUMENT_RATE_PER_S * args.time_scale * wall
    print(f"Machine: {machine_line()}")
    print(f"Commit: {git_commit()}")
    print(
        f"Documents: {args.days - 2} days of exports, time scale {args.time_scale:g} "
        f"(budget {60 * DOCUMENT_RATE_PER_S * args.time_scale:g} calls/min, burst 1)\n"
    )
    print(
        "| records | getInvoicesDocument calls | budget over wall | wall s | utilisation "
        "| expired URLs | complete |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|")
    print(
        f"| {len(records):,} | {calls} | {budget:.1f} | {wall:.1f} | {calls / budget:.3f} "
        f"| {expired} | {'yes' if complete else 'NO'} |"
    )


if __name__ == "__main__":
    main()
