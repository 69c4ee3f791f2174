"""End-to-end benchmarks: the tap as a subprocess against the emulator as another process.

One command runs every scenario of issue 6 and prints a markdown table::

    python benchmarks/bench_sync.py            # full sizes, a few minutes
    python benchmarks/bench_sync.py --quick    # smaller datasets, about a minute
    python benchmarks/bench_sync.py --only backfill,one-day --repeats 3

Per scenario a fresh emulator process is started (``python -m spapi_emulator``), the tap
runs as users run it (``python -m tap_spinvoices --config ... [--state ...]``) with stdout
read by this process, and the tap's own CPU time and peak RSS come from ``os.wait4``'s
rusage (ru_utime + ru_stime, ru_maxrss) — the emulator's CPU is not charged to the tap.
Every run is checked before its numbers are printed: the set of purchase order numbers
written equals the emulator's dataset for the range, no duplicates, the exit code is 0 and
the last STATE bookmark is the end of the range.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from spapi_emulator import EmulatorConfig  # noqa: E402
from spapi_emulator.direct_fulfillment.dataset import Dataset  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

OPERATION = "getCustomerInvoices"
DATASET_START = datetime(2024, 1, 1, tzinfo=UTC)
CREDENTIALS = {
    "lwa_client_id": "emulator-client-id",
    "lwa_client_secret": "emulator-client-secret",
    "refresh_token": "Atzr|emulator-refresh-token",
}
STREAM = "customer_invoices"
RECORD_PREFIX = b'{"type":"RECORD","stream":"customer_invoices",'
STATE_PREFIX = b'{"type":"STATE"'
PO_KEY = b'"purchaseOrderNumber":"'


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One benchmark: an emulator dataset and behaviour, and the tap run against it."""

    key: str
    title: str
    days: int
    invoices_per_day: int  # per party
    parties: tuple[str, ...] = ("WH-BLR-1",)
    tap_parties: bool = False  # configure ship_from_party_ids (one partition each)
    content_bytes: int = 2025  # decoded PDF; 2025 bytes -> 2,700 Base64 characters
    latency_ms: tuple[float, float] = (150.0, 450.0)
    throttle: bool = True
    time_scale: float = 1.0
    incremental: bool = False  # start from a STATE bookmark at the range start
    tap_settings: tuple[tuple[str, Any], ...] = ()
    rate_bound: bool = True  # floor and utilisation are meaningful

    def emulator_config(self) -> EmulatorConfig:
        return EmulatorConfig(
            dataset_start=DATASET_START,
            days=self.days,
            invoices_per_day=self.invoices_per_day,
            parties=self.parties,
            content_bytes=self.content_bytes,
            latency_ms=self.latency_ms,
            throttle=self.throttle,
            time_scale=self.time_scale,
        )

    def emulator_args(self) -> list[str]:
        low, high = self.latency_ms
        args = [
            "--port=0",
            f"--dataset-start={DATASET_START.isoformat()}",
            f"--days={self.days}",
            f"--invoices-per-day={self.invoices_per_day}",
            f"--parties={','.join(self.parties)}",
            f"--content-bytes={self.content_bytes}",
            f"--latency-ms={low:g}-{high:g}",
            f"--time-scale={self.time_scale:g}",
        ]
        if not self.throttle:
            args.append("--no-throttle")
        return args

    @property
    def end(self) -> datetime:
        return DATASET_START + timedelta(days=self.days)


def scenarios(*, quick: bool) -> list[Scenario]:
    """The scenarios of issue 6 (sizes shrink with --quick)."""
    parties = ("WH-BLR-1", "WH-DEL-2")
    return [
        Scenario(
            key="backfill",
            title=(f"(a) 60-day backfill, {len(parties)} parties, 10 rps burst 10, 150-450 ms"),
            days=60,
            invoices_per_day=200 if quick else 1000,
            parties=parties,
            tap_parties=True,
        ),
        Scenario(
            key="one-day",
            title="(b) 1-day incremental, 5,000 invoices, 10 rps burst 10, 150-450 ms",
            days=1,
            invoices_per_day=5000,
            incremental=True,
        ),
        Scenario(
            key="memory",
            title=(
                f"(c) memory: {'20k' if quick else '100k'} invoices x 20 KB PDF, "
                "no throttle, no latency"
            ),
            days=10,
            invoices_per_day=2000 if quick else 10_000,
            content_bytes=20_000,
            latency_ms=(0.0, 0.0),
            throttle=False,
            time_scale=1000.0,
            rate_bound=False,
        ),
        Scenario(
            key="memory-large",
            title=(
                f"(c2) memory: {100 if quick else 400} invoices x 5 MB PDF, no throttle, no latency"
            ),
            days=1,
            invoices_per_day=100 if quick else 400,
            content_bytes=5_000_000,
            latency_ms=(0.0, 0.0),
            throttle=False,
            time_scale=1000.0,
            rate_bound=False,
        ),
        Scenario(
            key="cpu",
            title=(
                f"(d) CPU: {'30k' if quick else '100k'} invoices x 2.7 KB, no throttle, no latency"
            ),
            days=10,
            invoices_per_day=3000 if quick else 10_000,
            latency_ms=(0.0, 0.0),
            throttle=False,
            time_scale=1000.0,  # the advertised rate the tap adapts to: 10,000 rps
            rate_bound=False,
        ),
        Scenario(
            key="startup",
            title="(d0) startup only: empty range (fixed cost of one run)",
            days=1,
            invoices_per_day=0,
            latency_ms=(0.0, 0.0),
            throttle=False,
            time_scale=1000.0,
            rate_bound=False,
        ),
    ]


@dataclasses.dataclass
class Result:
    records: int
    requests: int
    throttled: int
    wall_s: float
    cpu_s: float
    maxrss_mb: float
    rate: float
    burst: int


def machine_line() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0))
    return f"{cores} cores (nproc), {model}, Python {platform.python_version()}"


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}{' + uncommitted changes' if dirty else ''}"


def tap_command(config: Path, catalog: Path) -> list[str]:
    """The tap as users run it: ``python -m tap_spinvoices --config ... --catalog ...``."""
    return [
        sys.executable,
        "-m",
        "tap_spinvoices",
        "--config",
        str(config),
        "--catalog",
        str(catalog),
    ]


def tap_env() -> dict[str, str]:
    """This environment without TAP_SPINVOICES_* settings, with this checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_SPINVOICES_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


@contextlib.contextmanager
def emulator_process(args: list[str], what: str) -> Iterator[str]:
    """Run ``python -m spapi_emulator`` with ``args`` (for ``what``); yield its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "spapi_emulator", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        if not url.startswith("http"):
            raise SystemExit(f"emulator did not start for {what}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def emulator_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as response:  # noqa: S310
        stats: dict[str, Any] = json.loads(response.read())
    return stats


def tap_config(scenario: Scenario, url: str, settings: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        **CREDENTIALS,
        "start_date": DATASET_START.isoformat(),
        "end_date": scenario.end.isoformat(),
        "api_url": url,
        "lwa_token_url": f"{url}/auth/o2/token",
        "lookback_minutes": 0,
    }
    if scenario.tap_parties:
        config["ship_from_party_ids"] = list(scenario.parties)
    config.update(dict(scenario.tap_settings))
    config.update(settings)
    return config


def catalog_selecting_only(stream: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The tap's catalog with only ``stream`` selected (the others are not benchmarked).

    Discovered with ``config`` (default: none), whose settings may change what is selected
    by default (with archive_url, ``content`` is not).
    """
    from tap_spinvoices.tap import TapSpinvoices  # noqa: PLC0415 - only the parent needs it

    logging.disable(logging.CRITICAL)  # an empty config is fine for listing the streams
    try:
        catalog: dict[str, Any] = TapSpinvoices(
            config=config or {}, validate_config=False, setup_mapper=False
        ).catalog_dict
    finally:
        logging.disable(logging.NOTSET)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == stream
    return catalog


def tap_state(scenario: Scenario) -> dict[str, Any] | None:
    if not scenario.incremental:
        return None
    value = DATASET_START.isoformat()
    bookmark = {"replication_key": "window_start", "replication_key_value": value}
    if scenario.tap_parties:
        partitions = [
            {"context": {"ship_from_party_id": party}, **bookmark} for party in scenario.parties
        ]
        return {"bookmarks": {"customer_invoices": {"partitions": partitions}}}
    return {"bookmarks": {"customer_invoices": bookmark}}


def expected_numbers(scenario: Scenario) -> set[str]:
    dataset = Dataset(scenario.emulator_config())
    lower = DATASET_START - timedelta(microseconds=1)
    found: set[str] = set()
    for party in scenario.parties:
        found.update(i.purchase_order_number for i in dataset.invoices(lower, scenario.end, party))
    return found


def run_tap(scenario: Scenario, url: str, settings: dict[str, Any]) -> tuple[Result, set[str]]:
    """Run the tap once; return its measurements and the purchase order numbers it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp, "config.json")
        config_path.write_text(json.dumps(tap_config(scenario, url, settings)))
        catalog_path = Path(tmp, "catalog.json")
        catalog_path.write_text(json.dumps(catalog_selecting_only(STREAM, settings)))
        command = tap_command(config_path, catalog_path)
        state = tap_state(scenario)
        if state is not None:
            state_path = Path(tmp, "state.json")
            state_path.write_text(json.dumps(state))
            command += ["--state", str(state_path)]
        log_path = Path(tmp, "stderr.log")
        env = tap_env()
        numbers: set[str] = set()
        records = others = 0
        last_state = b""
        with log_path.open("wb") as log:
            started = time.perf_counter()
            proc = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=env,
            )
            for line in proc.stdout or ():
                if line.startswith(RECORD_PREFIX):
                    records += 1
                    at = line.find(PO_KEY) + len(PO_KEY)
                    numbers.add(line[at : line.find(b'"', at)].decode())
                elif line.startswith(STATE_PREFIX):
                    last_state = line
                elif line.startswith(b'{"type":"RECORD"'):
                    others += 1
            if proc.stdout:
                proc.stdout.close()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{scenario.key}: tap exited {proc.returncode}\n{tail}")
    if others:
        raise SystemExit(f"{scenario.key}: {others} records of streams not selected")
    if records != len(numbers):
        raise SystemExit(f"{scenario.key}: {records - len(numbers)} duplicate records")
    check_final_state(scenario, last_state)
    stats = emulator_stats(url)
    operations = stats["operations"]
    limits = stats["rate_limits"][OPERATION]
    result = Result(
        records=records,
        requests=operations.get(OPERATION, {}).get("requests", 0),
        throttled=sum(op["throttled"] for op in operations.values()),
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        maxrss_mb=usage.ru_maxrss / 1024,
        rate=float(limits["rate"]),
        burst=int(limits["burst"]),
    )
    return result, numbers


def check_final_state(scenario: Scenario, line: bytes) -> None:
    if not line:
        raise SystemExit(f"{scenario.key}: no STATE message")
    bookmarks = json.loads(line)["value"]["bookmarks"]["customer_invoices"]
    entries = bookmarks.get("partitions") or [bookmarks]
    values = {entry.get("replication_key_value") for entry in entries}
    if values != {scenario.end.isoformat()}:
        raise SystemExit(f"{scenario.key}: final bookmarks {values} != {scenario.end.isoformat()}")


def run_scenario(scenario: Scenario, settings: dict[str, Any]) -> Result:
    expected = expected_numbers(scenario)
    with emulator_process(scenario.emulator_args(), scenario.key) as url:
        result, numbers = run_tap(scenario, url, settings)
    if numbers != expected:
        missing, extra = len(expected - numbers), len(numbers - expected)
        raise SystemExit(f"{scenario.key}: {missing} invoices missing, {extra} unexpected")
    return result


def floor_s(result: Result) -> float:
    return max(0.0, (result.requests - result.burst) / result.rate)


def utilisation(result: Result) -> float:
    return result.requests / (result.burst + result.rate * result.wall_s)


def row(scenario: Scenario, results: list[Result]) -> str:
    median = statistics.median
    pick = sorted(results, key=lambda r: r.wall_s)[len(results) // 2]  # the median-wall run
    records = pick.records
    cpu = median(r.cpu_s for r in results)
    cpu_10k = f"{cpu / records * 10_000:.3f}" if records else f"{cpu:.2f} (total)"
    if scenario.rate_bound:
        floor = f"{floor_s(pick):.1f}"
        util = f"{utilisation(pick):.3f}"
        ratio = f" ({pick.wall_s / floor_s(pick):.2f}x floor)" if floor_s(pick) else ""
    else:
        floor, util, ratio = "n/a", "n/a", ""
    return (
        f"| {scenario.title} | {records:,} | {pick.requests:,} | {pick.wall_s:.1f}{ratio} "
        f"| {floor} | {util} | {sum(r.throttled for r in results)} | {cpu_10k} "
        f"| {median(r.maxrss_mb for r in results):.0f} |"
    )


def writer_table(*, quick: bool) -> str:
    size = ["--records=2000", "--repeats=3"] if quick else ["--records=10000", "--repeats=9"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_writer.py"), *size],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        settings[name] = json.loads(value)
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller datasets")
    parser.add_argument("--repeats", type=int, default=1, help="runs per scenario (median)")
    parser.add_argument("--only", default="", help="comma-separated scenario keys")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="extra tap setting for every run, e.g. --set max_concurrency=32",
    )
    parser.add_argument("--no-writer", action="store_true", help="skip the writer benchmark")
    args = parser.parse_args()
    settings = parse_settings(args.set)
    only = set(args.only.split(",")) if args.only else set()
    chosen = [s for s in scenarios(quick=args.quick) if not only or s.key in only]

    print(f"Machine: {machine_line()}")
    print(f"Commit: {git_commit()}")
    print(
        f"Mode: {'quick' if args.quick else 'full'}, {args.repeats} run(s) per scenario "
        f"(medians){', tap settings ' + json.dumps(settings) if settings else ''}\n"
    )
    print(
        "| scenario | records | requests | wall s | floor s | utilisation | 429s "
        "| tap CPU s per 10k records | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    cpu_by_key: dict[str, tuple[float, int]] = {}
    for scenario in chosen:
        results = [run_scenario(scenario, settings) for _ in range(args.repeats)]
        print(row(scenario, results), flush=True)
        cpu_by_key[scenario.key] = (
            statistics.median(r.cpu_s for r in results),
            results[0].records,
        )
    if not only or "documents" in only:
        print(
            "\n(f) documents at the 1/min budget: run "
            "`python benchmarks/bench_documents.py --days 10 --time-scale 4` (about 4 minutes)."
        )
    if "cpu" in cpu_by_key and "startup" in cpu_by_key:
        (cpu, records), (fixed, _) = cpu_by_key["cpu"], cpu_by_key["startup"]
        print(
            f"\nTap CPU per 10k records in (d) less the fixed cost of a run (d0, {fixed:.2f} s): "
            f"{(cpu - fixed) / records * 10_000:.3f} s"
        )
    if not args.no_writer and (not only or "writer" in only):
        print("\n(e) writer microbenchmark (benchmarks/bench_writer.py):\n")
        print(writer_table(quick=args.quick))


if __name__ == "__main__":
    main()
