"""The CPU floor of the HTTP stack: what fetching and decoding the pages costs, nothing else.

Scenario (d) of bench_sync.py measures the whole tap. This measures, in one process against
the same emulator dataset (100 invoices of 2.7 KB a page, no throttle, no latency), three
ways of walking the same windows with ``--concurrency`` windows at once:

    aiohttp read      bare aiohttp GET + read() of each page (nextToken found by a regex)
    + orjson.loads    the same, then orjson.loads of every body
    SpApiClient       the tap's client: get_json + parse_page (limiter, tokens, retries)

and prints process CPU (user + sys, time.process_time) per 10k records, median of
``--repeats`` interleaved rounds. The first two rows are the floor any aiohttp + orjson tap
pays on this machine before building or writing a single record::

    python benchmarks/bench_http_floor.py            # 3 days x 10k invoices, 5 rounds
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import orjson  # noqa: E402
from bench_sync import DATASET_START, Scenario, emulator_process, machine_line, tap_config  # noqa: E402
from yarl import URL  # noqa: E402

from tap_spinvoices.settings import parse_settings  # noqa: E402
from tap_spinvoices.spapi.operations import GET_CUSTOMER_INVOICES_2021_12_28  # noqa: E402
from tap_spinvoices.spapi.session import TokensAndBudgets, open_connection  # noqa: E402
from tap_spinvoices.streams.customer_invoices import parse_page, window_params  # noqa: E402

OPERATION = GET_CUSTOMER_INVOICES_2021_12_28.name
INVOICES_PATH = GET_CUSTOMER_INVOICES_2021_12_28.path
from tap_spinvoices.sync.windows import Window, plan_windows  # noqa: E402

if TYPE_CHECKING:
    from tap_spinvoices.spapi.client import SpApiClient
    from tap_spinvoices.spapi.session import ApiConnection

_NEXT_TOKEN = re.compile(rb'"nextToken"\s*:\s*"([^"]+)"')
MODES = ("aiohttp read", "+ orjson.loads", "SpApiClient")


async def walk_raw(connection: ApiConnection, token: str, window: Window, *, decode: bool) -> int:
    """Fetch every page of ``window`` with bare aiohttp; return the records seen."""
    client: SpApiClient = connection.client
    base = client._base_url + INVOICES_PATH  # noqa: SLF001 - benchmark only
    headers = {"x-amz-access-token": token, "accept": "application/json"}
    params: dict[str, str | int] = window_params(window, None)
    records = 0
    while True:
        async with connection.http.get(URL(base).with_query(params), headers=headers) as response:
            body = await response.read()
        if decode:
            invoices, next_token = parse_page(orjson.loads(body))
            records += len(invoices)
        else:
            found = _NEXT_TOKEN.search(body)
            next_token = found.group(1).decode() if found else None
            records += body.count(b'"purchaseOrderNumber"')
        if next_token is None:
            return records
        params = {**window_params(window, None), "nextToken": next_token}


async def walk_client(connection: ApiConnection, window: Window) -> int:
    """Fetch every page of ``window`` with the tap's client; return the records seen."""
    path = INVOICES_PATH
    params: dict[str, str | int] = window_params(window, None)
    records = 0
    while True:
        body = await connection.client.get_json(OPERATION, path, params, restricted=True)
        invoices, next_token = parse_page(body)
        records += len(invoices)
        if next_token is None:
            return records
        params = {**window_params(window, None), "nextToken": next_token}


async def one_round(
    settings: Any,  # noqa: ANN401 - tap_spinvoices.settings.Settings
    windows: list[Window],
    concurrency: int,
) -> dict[str, tuple[float, int]]:
    """CPU seconds and records of each mode, in one event loop and connection."""
    results: dict[str, tuple[float, int]] = {}
    async with open_connection(settings, TokensAndBudgets(), settings.base_url("eu")) as connection:
        path = INVOICES_PATH
        await walk_client(connection, windows[0])  # warm up: LWA, RDT, connections
        token = await connection.client._rdt.token_for(path)  # noqa: SLF001 - benchmark only
        for mode in MODES:
            gate = asyncio.Semaphore(concurrency)

            async def walk(window: Window, mode: str = mode, gate: asyncio.Semaphore = gate) -> int:
                async with gate:
                    if mode == "SpApiClient":
                        return await walk_client(connection, window)
                    return await walk_raw(connection, token, window, decode=mode != MODES[0])

            started = time.process_time()
            counts = await asyncio.gather(*(walk(w) for w in windows))
            results[mode] = (time.process_time() - started, sum(counts))
    return results


def main() -> None:
    """Start the emulator, run the interleaved rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    scenario = Scenario(
        key="http-floor",
        title="",
        days=args.days,
        invoices_per_day=10_000,
        latency_ms=(0.0, 0.0),
        throttle=False,
        time_scale=1000.0,
        rate_bound=False,
    )
    with emulator_process(scenario.emulator_args(), scenario.key) as url:
        config = tap_config(scenario, url, {"max_concurrency": args.concurrency})
        settings = parse_settings(config)
        end = scenario.end
        windows = plan_windows(
            DATASET_START, end, max_length=settings.window, min_count=args.concurrency
        )
        rounds = [
            asyncio.run(one_round(settings, windows, args.concurrency)) for _ in range(args.repeats)
        ]
    print(machine_line())
    print(
        f"{args.days} days x 10,000 invoices of 2.7 KB, "
        f"{len(windows)} windows, {args.concurrency} at once, median of {args.repeats} rounds\n"
    )
    print("| HTTP path | records | CPU s per 10k records |")
    print("|---|---:|---:|")
    for mode in MODES:
        per_10k = statistics.median(r[mode][0] / r[mode][1] * 10_000 for r in rounds)
        print(f"| {mode} | {rounds[0][mode][1]:,} | {per_10k:.3f} |")


if __name__ == "__main__":
    main()
