"""Many accounts at once: N tap processes, one per selling partner, against one emulator.

    python benchmarks/bench_accounts.py              # 10 accounts x 1,200 requests: ~2.5 minutes
    python benchmarks/bench_accounts.py --quick      # 10 accounts x 200 requests: ~40 seconds
    python benchmarks/bench_accounts.py --accounts 4 --days 30

The emulator (its own process) serves N selling partners of one app, each with its own
dataset and its own getCustomerInvoices bucket (10 requests/s, burst 10, 150-450 ms latency),
as Amazon's usage plans belong to a selling partner and application pair. N taps start at
once, as an orchestrator running N accounts side by side starts them (``python -m
tap_spinvoices``, ``customer_invoices`` only, ``account_id`` set); stdout is read by this
process. Per account it prints the use of its own budget, both as bench_sync.py measures it
(over the tap's wall time, start-up included) and over the span from the partner's first to
its last getCustomerInvoices answer at the emulator (what the tap does once it is running),
and the 429s; then the total wall, the taps' CPU (``os.wait4``) and peak RSS, per process and
summed. Every run is checked first: exit code 0, the purchase order numbers written are the
partner's dataset for the range, no duplicate, every record carries the account's id.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_sync import (  # noqa: E402
    CREDENTIALS,
    DATASET_START,
    OPERATION,
    PO_KEY,
    RECORD_PREFIX,
    STATE_PREFIX,
    STREAM,
    Result,
    catalog_selecting_only,
    emulator_stats,
    git_commit,
    machine_line,
    utilisation,
)
from spapi_emulator import EmulatorConfig, numbered_partners  # noqa: E402
from spapi_emulator.direct_fulfillment.dataset import Dataset  # noqa: E402

PARTY = "WH-BLR-1"
CONTENT_BYTES = 2025  # as bench_sync.py: 2,700 Base64 characters
LATENCY_MS = (150.0, 450.0)
ACCOUNT_KEY = b'"account_id":"'


@dataclass
class Account:
    """One selling partner's tap run."""

    account_id: str
    partner_id: str
    refresh_token: str
    seed: int
    prefix: str
    numbers: set[str] = field(default_factory=set)
    records: int = 0
    foreign: int = 0  # records whose account_id is not this account's
    last_state: bytes = b""
    returncode: int = -1
    wall_s: float = 0.0
    cpu_s: float = 0.0
    maxrss_mb: float = 0.0
    stderr_tail: str = ""


def accounts(count: int, seed: int) -> list[Account]:
    primary = Account("V01", "SP1", CREDENTIALS["refresh_token"], seed, "PO")
    others = [
        Account(
            f"V{k + 1:02d}", p.selling_partner_id, p.refresh_token, p.seed, p.purchase_order_prefix
        )
        for k, p in enumerate(numbered_partners(count - 1, seed), start=1)
    ]
    return [primary, *others]


def emulator_command(days: int, per_day: int, count: int) -> list[str]:
    low, high = LATENCY_MS
    return [
        sys.executable,
        "-m",
        "spapi_emulator",
        "--port=0",
        f"--dataset-start={DATASET_START.isoformat()}",
        f"--days={days}",
        f"--invoices-per-day={per_day}",
        f"--parties={PARTY}",
        f"--content-bytes={CONTENT_BYTES}",
        f"--latency-ms={low:g}-{high:g}",
        f"--selling-partners={count - 1}",
    ]


def expected_numbers(account: Account, days: int, per_day: int) -> set[str]:
    config = EmulatorConfig(
        seed=account.seed,
        purchase_order_prefix=account.prefix,
        dataset_start=DATASET_START,
        days=days,
        invoices_per_day=per_day,
        parties=(PARTY,),
        content_bytes=CONTENT_BYTES,
    )
    lower = DATASET_START - timedelta(microseconds=1)
    end = DATASET_START + timedelta(days=days)
    return {i.purchase_order_number for i in Dataset(config).invoices(lower, end)}


def read_output(account: Account, stdout: IO[bytes]) -> None:
    """Count one tap's records (and check whose they are) as it writes them."""
    marker = ACCOUNT_KEY + account.account_id.encode() + b'"'
    for line in stdout:
        if line.startswith(RECORD_PREFIX):
            account.records += 1
            at = line.find(PO_KEY) + len(PO_KEY)
            account.numbers.add(line[at : line.find(b'"', at)].decode())
            if marker not in line:
                account.foreign += 1
        elif line.startswith(STATE_PREFIX):
            account.last_state = line


def run_all(url: str, chosen: list[Account], days: int, tmp: Path) -> float:
    """Start every account's tap at once; wait for all; return the total wall time."""
    catalog = tmp / "catalog.json"
    catalog.write_text(json.dumps(catalog_selecting_only(STREAM)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_SPINVOICES_")}
    env["PYTHONPATH"] = str(ROOT)
    end = DATASET_START + timedelta(days=days)
    running = []
    started = time.perf_counter()
    for account in chosen:
        config = {
            **CREDENTIALS,
            "refresh_token": account.refresh_token,
            "account_id": account.account_id,
            "start_date": DATASET_START.isoformat(),
            "end_date": end.isoformat(),
            "api_url": url,
            "lwa_token_url": f"{url}/auth/o2/token",
            "lookback_minutes": 0,
        }
        path = tmp / f"{account.account_id}.json"
        path.write_text(json.dumps(config))
        log = (tmp / f"{account.account_id}.log").open("wb")
        command = [sys.executable, "-m", "tap_spinvoices", "--config", str(path)]
        proc = subprocess.Popen(
            [*command, "--catalog", str(catalog)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        reader = threading.Thread(target=read_output, args=(account, proc.stdout), daemon=True)
        reader.start()
        running.append((account, proc, reader, log, time.perf_counter()))
    for account, proc, reader, log, began in running:
        reader.join()
        _, status, usage = os.wait4(proc.pid, 0)
        account.wall_s = time.perf_counter() - began
        account.returncode = os.waitstatus_to_exitcode(status)
        account.cpu_s = usage.ru_utime + usage.ru_stime
        account.maxrss_mb = usage.ru_maxrss / 1024
        log.close()
        account.stderr_tail = (tmp / f"{account.account_id}.log").read_text(errors="replace")[
            -2000:
        ]
    return time.perf_counter() - started


def check(account: Account, days: int, per_day: int) -> None:
    where = f"account {account.account_id}"
    if account.returncode != 0:
        raise SystemExit(f"{where}: tap exited {account.returncode}\n{account.stderr_tail}")
    if account.records != len(account.numbers):
        raise SystemExit(f"{where}: {account.records - len(account.numbers)} duplicate records")
    if account.foreign:
        raise SystemExit(f"{where}: {account.foreign} records with another account_id")
    expected = expected_numbers(account, days, per_day)
    if account.numbers != expected:
        missing, extra = len(expected - account.numbers), len(account.numbers - expected)
        raise SystemExit(f"{where}: {missing} invoices missing, {extra} unexpected")
    bookmark = json.loads(account.last_state)["value"]["bookmarks"][STREAM]
    end = (DATASET_START + timedelta(days=days)).isoformat()
    if bookmark.get("replication_key_value") != end:
        raise SystemExit(f"{where}: final bookmark {bookmark} is not {end}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=10, help="selling partners at once")
    parser.add_argument("--days", type=int, default=60, help="dataset days per account")
    parser.add_argument("--invoices-per-day", type=int, default=2000, help="per account")
    parser.add_argument("--quick", action="store_true", help="20 days x 1,000 invoices")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    days, per_day = (20, 1000) if args.quick else (args.days, args.invoices_per_day)
    chosen = accounts(args.accounts, args.seed)

    print(f"Machine: {machine_line()}; load average at start {os.getloadavg()[0]:.1f}")
    print(f"Commit: {git_commit()}")
    print(
        f"{len(chosen)} accounts at once, each {days} days x {per_day:,} invoices "
        f"({CONTENT_BYTES:,}-byte PDFs), 10 rps burst 10 per account, "
        f"{LATENCY_MS[0]:g}-{LATENCY_MS[1]:g} ms\n",
        flush=True,
    )
    emulator = subprocess.Popen(
        emulator_command(days, per_day, len(chosen)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = emulator.stdout.readline().strip() if emulator.stdout else ""
        if not url.startswith("http"):
            raise SystemExit("the emulator did not start")
        with tempfile.TemporaryDirectory() as tmp:
            total_wall = run_all(url, chosen, days, Path(tmp))
        stats = emulator_stats(url)["selling_partners"]
    finally:
        emulator.terminate()
        _, _, emulator_usage = os.wait4(emulator.pid, 0)
    load_end = os.getloadavg()[0]
    for account in chosen:
        check(account, days, per_day)

    print(
        "| account | records | requests | wall s | utilisation (wall) "
        "| utilisation (first to last request) | 429s | tap CPU s | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    lowest = 1.0
    throttled_total = 0
    for account in chosen:
        partner = stats[account.partner_id]
        counters = partner["operations"][OPERATION]
        limits = partner["rate_limits"][OPERATION]
        throttled = sum(op["throttled"] for op in partner["operations"].values())
        throttled_total += throttled
        result = Result(
            records=account.records,
            requests=counters["requests"],
            throttled=throttled,
            wall_s=account.wall_s,
            cpu_s=account.cpu_s,
            maxrss_mb=account.maxrss_mb,
            rate=float(limits["rate"]),
            burst=int(limits["burst"]),
        )
        span = counters["last_at"] - counters["first_at"]
        active = result.requests / (result.burst + result.rate * span)
        lowest = min(lowest, active)
        print(
            f"| {account.account_id} ({account.partner_id}) | {result.records:,} "
            f"| {result.requests:,} | {result.wall_s:.1f} | {utilisation(result):.3f} "
            f"| {active:.3f} | {throttled} | {result.cpu_s:.2f} | {result.maxrss_mb:.0f} |"
        )
    cpu = sum(a.cpu_s for a in chosen)
    rss = sum(a.maxrss_mb for a in chosen)
    emulator_cpu = emulator_usage.ru_utime + emulator_usage.ru_stime
    print(
        f"\nTotal: wall {total_wall:.1f} s for all {len(chosen)} accounts; tap CPU {cpu:.1f} s "
        f"(mean {cpu / len(chosen):.2f} s per account); peak RSS {rss:.0f} MB summed "
        f"(max {max(a.maxrss_mb for a in chosen):.0f} MB per process); 429s {throttled_total}; "
        f"emulator CPU {emulator_cpu:.1f} s; load average at end {load_end:.1f}"
    )
    print(
        f"Lowest budget use over the first-to-last-request span: {lowest:.3f} "
        f"(target >= 0.95, 0 x 429: {'met' if lowest >= 0.95 and not throttled_total else 'NOT met'})"  # noqa: E501
    )


if __name__ == "__main__":
    main()
