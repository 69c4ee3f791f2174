"""What Amazon does to a nightly sync, one named scenario each, against the emulator.

A passing fault ends with every invoice of the range printed exactly once and exit code 0. A
fault that never passes ends with exit code 1, one error line that says what to do, and a
last STATE that points at the end of a window whose invoices (and every earlier window's)
were all printed, so the next run resumes there.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode, urlsplit

import orjson
import pytest

from tap_spinvoices.isotime import parse_datetime
from tap_spinvoices.sync.bookmarks import format_instant
from tap_spinvoices.sync.windows import BOUNDARY_OVERLAP
from tests.conftest import JumpingClock, config_for, emulator_on, expected_invoices
from tests.integration.test_crash_resume import (
    TapProcess,
    assert_state_claims_only_printed_invoices,
    bookmark_of,
    window_ends,
)
from tests.singer_run import TapRun, run_tap

if TYPE_CHECKING:
    from spapi_emulator import EmulatorServer, Invoice

INVOICES_PATH = "/vendor/directFulfillment/shipping/2021-12-28/customerInvoices"
OPERATION = "getCustomerInvoices"
LOG_LINE = re.compile(r"^\S+ \S+ \| (?P<level>[A-Z]+) +\| [^|]+\| (?P<message>.*)$")


def error_lines(stderr: str) -> list[str]:
    """The messages of the ERROR lines the tap logged."""
    lines = (LOG_LINE.match(line) for line in stderr.splitlines())
    return [m["message"] for m in lines if m and m["level"] in {"ERROR", "CRITICAL"}]


def statuses(emu: EmulatorServer, operation: str = OPERATION) -> Counter[str]:
    """HTTP statuses (and "reset") the emulator answered for ``operation``."""
    counters: Any = emu.stats()["operations"]
    return Counter(counters.get(operation, {}).get("by_status", {}))


def assert_complete(run: TapRun, emu: EmulatorServer, expected: list[Invoice]) -> None:
    assert run.returncode == 0, run.stderr
    numbers = [r["purchaseOrderNumber"] for r in run.records()]
    assert [po for po, n in Counter(numbers).items() if n > 1] == []
    assert set(numbers) == {i.purchase_order_number for i in expected}
    for record in run.records():
        assert record["content"] == emu.dataset.content(record["purchaseOrderNumber"])
    assert "Traceback" not in run.stderr


def sync(emu: EmulatorServer, start: str, end: str, **settings: Any) -> TapRun:
    config = config_for(emu).with_range(start, end)
    for name, value in settings.items():
        config.with_setting(name, value)
    return run_tap(config.build())


class ClockJumper(threading.Thread):
    """Moves the clock forward while the emulator holds the request after each of ``at_requests``.

    The gate holds request number ``at + 1`` (counting every request of the run, token calls
    too), the clock jumps, then the gate lets it through: it meets the aged tokens, on any
    machine, and the run cannot end before every jump.
    """

    def __init__(
        self, emu: EmulatorServer, clock: JumpingClock, seconds: float, at_requests: list[int]
    ) -> None:
        super().__init__(name="clock-jumper", daemon=True)
        self._emu, self._clock, self._seconds = emu, clock, seconds
        self._pending = sorted(at_requests)
        self.jumps = 0
        self.done = threading.Event()
        emu.gate.hold_after(self._pending[0])  # armed before the tap starts

    def run(self) -> None:
        gate = self._emu.gate
        while self._pending and not self.done.is_set():
            if gate.held() == 0:
                time.sleep(0.002)
                continue
            self._clock.jump(self._seconds)
            self.jumps += 1
            at = self._pending.pop(0)
            if self._pending:
                gate.hold_after(self._pending[0] - at - 1)  # the held one was number at + 1
            else:
                gate.open()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()
        self.join()
        self._emu.gate.open()


class OtherApp(threading.Thread):
    """Another copy of the tap, same app and selling partner, calling as fast as it can.

    Amazon's buckets belong to a selling partner and an application, so calls made with the
    same app drain the bucket the tap was pacing itself against. It starts when the tap has
    minted its RDT and stops once the tap was throttled ``tap_throttled`` times, or after
    ``max_requests``.
    """

    def __init__(self, emu: EmulatorServer, *, tap_throttled: int, max_requests: int) -> None:
        super().__init__(name="other-app", daemon=True)
        self._emu = emu
        self._tap_throttled, self._max_requests = tap_throttled, max_requests
        self.statuses: Counter[int] = Counter()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._hammer()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _hammer(self) -> None:
        url = urlsplit(self._emu.url)
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
        try:
            form = urlencode(
                {
                    "grant_type": "refresh_token",
                    "refresh_token": self._emu.config.refresh_token,
                    "client_id": self._emu.config.client_id,
                    "client_secret": self._emu.config.client_secret,
                }
            )
            headers = {"content-type": "application/x-www-form-urlencoded"}
            access = self._call(connection, "POST", "/auth/o2/token", form, headers)
            resources = {"restrictedResources": [{"method": "GET", "path": INVOICES_PATH}]}
            body = orjson.dumps(resources).decode()
            headers = {"x-amz-access-token": access["access_token"]}
            rdt = self._call(
                connection, "POST", "/tokens/2021-03-01/restrictedDataToken", body, headers
            )
            query = urlencode(
                {
                    "createdAfter": "2024-01-01T00:00:00.000Z",
                    "createdBefore": "2024-01-02T00:00:00.000Z",
                }
            )
            headers = {"x-amz-access-token": rdt["restrictedDataToken"]}
            # The storm starts when the tap has its own RDT: its first invoice calls are next.
            deadline = time.monotonic() + 60
            while statuses(self._emu, "createRestrictedDataToken")["200"] < 2:
                assert time.monotonic() < deadline, "the tap never started"
                time.sleep(0.005)
            while (
                statuses(self._emu)["429"] - self.statuses[429] < self._tap_throttled
                and self.statuses.total() < self._max_requests
            ):
                connection.request("GET", f"{INVOICES_PATH}?{query}", headers=headers)
                response = connection.getresponse()
                response.read()
                self.statuses[response.status] += 1
        finally:
            connection.close()

    @staticmethod
    def _call(
        connection: http.client.HTTPConnection,
        method: str,
        path: str,
        body: str,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        answer: dict[str, Any] = orjson.loads(response.read())
        assert response.status == 200, answer
        return answer


# --- faults that pass: every invoice, exactly once, exit 0 ---------------------------------


def test_connection_resets_and_5xx_lose_no_invoice(emulator_factory):
    emu = emulator_factory(fault_5xx_rate=0.05, fault_reset_rate=0.02)
    start, end = "2024-01-01T00:00:00Z", "2024-01-22T00:00:00Z"
    run = sync(emu, start, end, window_hours=1)  # 504 windows: 504 requests at least

    assert_complete(run, emu, expected_invoices(emu, start, end))
    answered = statuses(emu)
    assert answered["500"] + answered["503"] >= 10
    assert answered["reset"] >= 3
    assert bookmark_of(run.final_state) == "2024-01-22T00:00:00+00:00"


def test_answers_slower_than_the_request_timeout_are_abandoned_and_retried(emulator_factory):
    # 6 s stalls against the shortest timeout the settings allow (5 s); the seeded dice
    # stall three of the first 43 requests, all early in the run.
    emu = emulator_factory(slow_rate=0.05, slow_seconds=6.0)
    start, end = "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"
    run = sync(emu, start, end, window_hours=4, request_timeout_seconds=5)

    assert_complete(run, emu, expected_invoices(emu, start, end))
    assert f"{OPERATION}: TimeoutError; retry in" in run.stderr


def test_access_tokens_that_live_two_seconds_are_refreshed_many_times_in_one_run(
    emulator_factory,
):
    # 10 requests/s for 60 windows: a run of about 6 s against tokens that live 2 s.
    emu = emulator_factory(access_token_ttl=2.0, rdt_ttl=2.0, time_scale=1.0)
    start, end = "2024-01-01T00:00:00Z", "2024-01-06T00:00:00Z"
    run = sync(emu, start, end, window_hours=2)

    assert_complete(run, emu, expected_invoices(emu, start, end))
    assert statuses(emu, "lwaToken")["200"] >= 4
    assert statuses(emu, "createRestrictedDataToken")["200"] >= 4
    assert statuses(emu)["403"] == 0  # refreshed before expiry, never refused


def test_tokens_amazon_expires_early_are_refreshed_on_the_403_and_the_request_resent():
    # Amazon answers 403 "The access token you provided has expired." while the tap still
    # thinks its tokens are good (clock skew, a long stall): the tap gets new ones and resends.
    clock = JumpingClock()
    with emulator_on(clock) as emu:
        start, end = "2024-01-01T00:00:00Z", "2024-01-11T00:00:00Z"
        with ClockJumper(emu, clock, seconds=4000.0, at_requests=[30, 80]) as jumper:
            run = sync(emu, start, end, window_hours=2)

        assert jumper.jumps == 2
        assert_complete(run, emu, expected_invoices(emu, start, end))
        assert statuses(emu)["403"] >= 2
        assert statuses(emu, "createRestrictedDataToken")["403"] >= 2  # its LWA token, too
        assert statuses(emu, "lwaToken")["200"] == 3
        assert statuses(emu, "createRestrictedDataToken")["200"] == 3


def test_next_tokens_that_expire_mid_window_restart_the_window_and_lose_nothing():
    # nextTokens live 60 s; twice the tap is stalled for two minutes with pages in flight.
    clock = JumpingClock()
    with emulator_on(clock, next_token_ttl=60.0, invoices_per_day=480, time_scale=5.0) as emu:
        start, end = "2024-01-01T00:00:00Z", "2024-01-07T00:00:00Z"  # 24 windows of 3 pages
        with ClockJumper(emu, clock, seconds=120.0, at_requests=[20, 45]) as jumper:
            run = sync(emu, start, end, window_hours=6)

        assert jumper.jumps == 2
        assert_complete(run, emu, expected_invoices(emu, start, end))
        assert statuses(emu)["400"] >= 1  # "Next token is invalid or expired"
        assert "nextToken refused for window" in run.stderr


def test_429_storm_from_another_client_of_the_same_app_is_waited_out(emulator_factory):
    emu = emulator_factory(time_scale=2.0)  # a bucket of 20 requests/s, burst 10
    other_app = OtherApp(emu, tap_throttled=3, max_requests=20_000)
    other_app.start()
    start, end = "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"
    run = sync(emu, start, end, window_hours=6)
    other_app.join()

    assert other_app.error is None
    assert other_app.statuses[429] > 0  # the storm was real for the other client too
    assert_complete(run, emu, expected_invoices(emu, start, end))
    assert f"{OPERATION}: HTTP 429 QuotaExceeded" in run.stderr


def test_malformed_json_on_a_200_is_retried_never_taken_as_an_empty_page(emulator_factory):
    emu = emulator_factory(malformed_json_rate=0.1)
    start, end = "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"
    run = sync(emu, start, end, window_hours=2)

    assert_complete(run, emu, expected_invoices(emu, start, end))
    assert f"{OPERATION}: HTTP 200 with malformed JSON; retry in" in run.stderr


def test_restricted_data_token_call_failing_once_with_503_is_retried(emulator_factory):
    emu = emulator_factory(rdt_fail_once_503=True)
    start, end = "2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z"
    run = sync(emu, start, end)

    assert_complete(run, emu, expected_invoices(emu, start, end))
    assert statuses(emu, "createRestrictedDataToken") == Counter({"503": 1, "200": 1})


# --- rules Amazon enforces on every request ---------------------------------------------


def test_longest_windows_ask_for_exactly_seven_days_and_amazon_accepts_them(emulator_factory):
    # 14 days less 2 s in windows of at most 168 h: two windows of 7 days less 1 s, each asked
    # for with the 1 s overlap, so createdBefore - createdAfter is exactly Amazon's 7 days.
    emu = emulator_factory()
    start, end = "2024-01-01T00:00:00Z", "2024-01-14T23:59:58Z"
    run = sync(emu, start, end, window_hours=168, max_concurrency=1)

    assert_complete(run, emu, expected_invoices(emu, start, end))
    spans = {
        parse_datetime(r["window_end"]) - parse_datetime(r["window_start"]) for r in run.records()
    }
    assert spans == {timedelta(days=7) - BOUNDARY_OVERLAP}
    assert set(statuses(emu)) == {"200"}  # never "The date range ... no more than 7 days."


def test_end_date_in_the_future_stops_short_of_now_so_amazon_never_sees_a_future_bound(
    emulator_factory,
):
    # Amazon answers 400 to a createdBefore later than now; the tap stops end_lag_minutes
    # (default 5) before now, and the next run picks up what was created since.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    emu = emulator_factory(dataset_start=today - timedelta(days=1), days=3, invoices_per_day=96)
    start = format_instant(today - timedelta(days=1))
    before = datetime.now(UTC)
    run = sync(emu, start, "2099-01-01T00:00:00Z")
    after = datetime.now(UTC)

    bookmark = parse_datetime(bookmark_of(run.final_state) or "")
    lag = timedelta(minutes=5)
    assert before - lag - timedelta(seconds=1) <= bookmark <= after - lag
    assert_complete(run, emu, expected_invoices(emu, start, format_instant(bookmark)))
    assert statuses(emu)["400"] == 0
    assert [i for i in emu.dataset.all_invoices() if i.created_at >= bookmark]  # left for later


# --- faults that never pass: exit 1, one clear line, STATE of the completed windows --------

REQUEST_ID = r"\(x-amzn-RequestId [0-9a-f-]{36}\)"
RETRY_LATER = "Amazon or the network kept failing: run again later, or raise max_retries"
PERMANENT_FAULTS = {
    "next-token-always-expired": (
        {"next_token_ttl": 0.0},
        {},
        (
            f"{OPERATION} failed: HTTP 400 InvalidInput: Next token is invalid or expired "
            f"{REQUEST_ID}. the nextTokens were refused \\(expired or invalid\\) each time the "
            "window was fetched again: lower max_concurrency so each window's next page is "
            "asked for sooner"
        ),
    ),
    "5xx-that-never-stop": (
        {"fault_5xx_rate": 1.0},
        {"max_retries": 2},
        (
            f"{OPERATION} gave up after 2 attempts; last: HTTP 50[03] (InternalFailure|"
            f"ServiceUnavailable): [^(]+ {REQUEST_ID}. {RETRY_LATER}"
        ),
    ),
    "resets-that-never-stop": (
        {"fault_reset_rate": 1.0},
        {"max_retries": 2},
        (
            f"{OPERATION} gave up after 2 attempts; last: ServerDisconnectedError: "
            f"Server disconnected. {RETRY_LATER}"
        ),
    ),
    "timeouts-that-never-stop": (
        {"slow_rate": 1.0, "slow_seconds": 6.0},
        {"max_retries": 1, "request_timeout_seconds": 5},
        f"{OPERATION} gave up after 1 attempt; last: TimeoutError. {RETRY_LATER}",
    ),
}


@pytest.mark.parametrize(
    ("faults", "settings", "error"), PERMANENT_FAULTS.values(), ids=PERMANENT_FAULTS.keys()
)
def test_fault_that_never_passes_fails_the_run_after_the_state_of_completed_windows(
    emulator_factory, tmp_path, faults, settings, error
):
    # Two pages per window, four windows in flight, 50 requests/s: the fault starts once the
    # first window is done and lasts; windows already printed stay claimed by the STATE.
    emu = emulator_factory(invoices_per_day=240, time_scale=5.0)
    start, end = "2024-01-01T00:00:00Z", "2024-01-17T00:00:00Z"
    config = config_for(emu).with_range(start, end).with_setting("window_hours", 6)
    config.with_setting("max_concurrency", 4)
    for name, value in settings.items():
        config.with_setting(name, value)
    with TapProcess(config.build(), None, tmp_path / "run") as tap:
        assert tap.wait_until(lambda t: t.bookmark() is not None), "no window ever completed"
        emu.reconfigure(**faults)
        run = tap.stop()

    assert run.returncode == 1
    [line] = error_lines(run.stderr)
    assert re.fullmatch(error, line), line
    assert "Traceback" not in run.stderr
    created = {i.purchase_order_number: i.created_at for i in expected_invoices(emu, start, end)}
    boundaries = window_ends(start, end, window_hours=6, max_concurrency=4)
    bookmark = assert_state_claims_only_printed_invoices(run, created, start, boundaries)
    assert parse_datetime(start) < bookmark < parse_datetime(end)
    numbers = [r["purchaseOrderNumber"] for r in run.records()]
    assert len(numbers) == len(set(numbers))
    assert set(numbers) <= set(created)
    last_state = max(k for k, m in enumerate(run.messages) if m["type"] == "STATE")
    after = [m["record"] for m in run.messages[last_state + 1 :] if m["type"] == "RECORD"]
    assert {r["window_start"] for r in after} <= {bookmark_of(run.final_state)}
