"""The tap against each reading of what Amazon's texts leave open (docs/quirks.md's table).

Every paged case has several pages per window, so follow-up pages are really exercised.
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from spapi_emulator import EmulatorConfig, EmulatorServer
from spapi_emulator.errors import NEXT_TOKEN_REFUSALS
from spapi_emulator.invoices.data import NO_FILTER, ExportRequest
from tap_spinvoices.isotime import parse_datetime
from tests.conftest import FAST_EMULATOR, config_for, expected_invoices
from tests.integration.test_crash_resume import TapProcess, bookmark_of
from tests.integration.test_faults import LOG_LINE, assert_complete, error_lines, statuses, sync
from tests.singer_run import run_tap

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.singer_run import TapRun

BR = "A2Q3Y263D00KWC"
# 50 invoices and 40 exports a day: a 7-day Invoices API window holds 3-4 pages of 100.
INVOICES_EMULATOR: dict[str, Any] = {
    "days": 12,
    "time_scale": 600.0,
    "invoices_api_per_day": 50,
    "export_queue_seconds": 0.0,
    "export_processing_seconds": 0.0,
}
START, END = "2024-01-01T00:00:00Z", "2024-01-13T00:00:00Z"
EXPORTS_PER_DAY = 40
# getCustomerInvoices: 480 invoices a day over two parties, so a 24-hour window has 5 pages
# (with max_concurrency at most 2, which keeps the two days from being split).
DF_EMULATOR: dict[str, Any] = {"invoices_per_day": 240, "time_scale": 5.0}
DF_START, DF_END = "2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z"


class SettableWall:
    """The emulator's wall clock: real time, or a moment a test sets (export creation)."""

    def __init__(self) -> None:
        self.moment: datetime | None = None

    def __call__(self) -> datetime:
        return self.moment or datetime.now(UTC)


@contextmanager
def invoices_emulator(**overrides: Any) -> Iterator[EmulatorServer]:
    """An Invoices API emulator whose export history has ``EXPORTS_PER_DAY`` exports a day."""
    wall = SettableWall()
    config = EmulatorConfig(**{**FAST_EMULATOR, **INVOICES_EMULATOR, **overrides})
    server = EmulatorServer(config, wall_clock=wall)
    api = server.invoices_api
    first = parse_datetime(START)
    for day in range(config.days):
        start = first + timedelta(days=day)
        request = ExportRequest(BR, start, start + timedelta(days=1), NO_FILTER)
        for number in range(EXPORTS_PER_DAY - 1):  # the history already has one a day
            wall.moment = start + timedelta(minutes=30 * (number + 1))
            api.create_export(request)
    wall.moment = None
    server.start()
    try:
        yield server
    finally:
        server.close()


def exports_in_range(emu: EmulatorServer) -> set[str]:
    upper = parse_datetime(END) - timedelta(microseconds=1)
    return {v.export_id for v in emu.invoices_api.exports(parse_datetime(START), upper)}


def invoices_in_range(emu: EmulatorServer) -> set[str]:
    upper = parse_datetime(END) - timedelta(microseconds=1)
    return {i.id for i in emu.invoices_api.invoices(parse_datetime(START), upper)}


def messages(run: TapRun, level: str) -> list[str]:
    lines = (LOG_LINE.match(line) for line in run.stderr.splitlines())
    return [m["message"] for m in lines if m and m["level"] == level]


def invoices_api_sync(emu: EmulatorServer, **settings: Any) -> TapRun:
    config = config_for(emu).with_range(START, END)
    for name, value in settings.items():
        config.with_setting(name, value)
    return run_tap(config.build(), streams=("invoice_exports", "invoices"))


def assert_invoices_api_complete(run: TapRun, emu: EmulatorServer) -> None:
    assert run.returncode == 0, run.stderr
    exports = [r["exportId"] for r in run.records("invoice_exports")]
    invoices = [r["id"] for r in run.records("invoices")]
    assert len(exports) == len(set(exports))
    assert len(invoices) == len(set(invoices))
    assert set(exports) == exports_in_range(emu)
    assert set(invoices) == invoices_in_range(emu)
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("reading", ["all-arguments", "token-only", "either"])
def test_invoices_api_streams_are_complete_under_every_follow_up_reading(reading):
    with invoices_emulator(invoices_follow_up=reading) as emu:
        run = invoices_api_sync(emu)

        assert_invoices_api_complete(run, emu)
        # Two windows of 6 days: 240 exports and 300 invoices each, 100 a page: 3 pages each.
        assert len(exports_in_range(emu)) == 12 * EXPORTS_PER_DAY
        assert statuses(emu, "getInvoicesExports")["200"] >= 2 * 3
        assert statuses(emu, "getInvoices")["200"] >= 2 * 3
        switches = [m for m in messages(run, "INFO") if "for the rest of the run" in m]
        if reading == "token-only":
            # Once per operation, whatever the number of windows that met the refusal.
            assert sorted(m.split(" ", 1)[0] for m in switches) == [
                "getInvoices",
                "getInvoicesExports",
            ]
            assert all("sending marketplaceId and nextToken only" in m for m in switches)
        else:
            assert switches == []
            assert statuses(emu, "getInvoicesExports")["400"] == 0
            assert statuses(emu, "getInvoices")["400"] == 0


@pytest.mark.parametrize("wording", sorted(NEXT_TOKEN_REFUSALS))
def test_a_refused_next_token_restarts_its_window_on_the_invoices_api_whatever_the_wording(
    wording,
):
    with invoices_emulator(next_token_refusal=wording, refuse_next_tokens=2) as emu:
        run = invoices_api_sync(emu)

        assert_invoices_api_complete(run, emu)
        restarts = [m for m in messages(run, "WARNING") if "nextToken refused for window" in m]
        assert len(restarts) == 2
        assert all(NEXT_TOKEN_REFUSALS[wording] in m for m in restarts)


@pytest.mark.parametrize("wording", sorted(NEXT_TOKEN_REFUSALS))
def test_a_refused_next_token_restarts_its_customer_invoices_window_whatever_the_wording(
    emulator_factory, wording
):
    emu = emulator_factory(**DF_EMULATOR, next_token_refusal=wording, refuse_next_tokens=3)
    run = sync(emu, DF_START, DF_END, window_hours=24, max_concurrency=2)

    assert_complete(run, emu, expected_invoices(emu, DF_START, DF_END))
    assert statuses(emu)["200"] >= 2 * 5
    assert statuses(emu)["400"] == 3
    restarts = [m for m in messages(run, "WARNING") if "nextToken refused for window" in m]
    assert len(restarts) == 3
    assert all(NEXT_TOKEN_REFUSALS[wording] in m for m in restarts)


def test_next_tokens_refused_at_every_restart_fail_the_invoices_window_after_the_state():
    # One window at a time, no empty pages: the first window's two follow-up pages pass, then
    # every nextToken is refused; the first window stays claimed by the STATE.
    with invoices_emulator(
        invoices_empty_page_rate=0.0, refuse_next_tokens=10_000, refuse_next_tokens_after=2
    ) as emu:
        config = config_for(emu).with_range(START, END).with_setting("max_concurrency", 1)
        run = run_tap(config.build(), streams=("invoices",))

    assert run.returncode == 1
    [line] = error_lines(run.stderr)
    assert line.startswith(
        "getInvoices failed: HTTP 400 400: Invalid Request. (Next token is invalid or expired)"
    )
    assert "fetching the window again (3/3)" in run.stderr
    assert bookmark_of(run.final_state, "invoices") == "2024-01-07T00:00:00+00:00"
    # The second window's first page may be printed after that STATE: it is the window in
    # flight, which a resumed run fetches again.
    last_state = max(k for k, m in enumerate(run.messages) if m["type"] == "STATE")
    after = {
        m["record"]["window_start"] for m in run.messages[last_state:] if m["type"] == "RECORD"
    }
    assert after <= {"2024-01-07T00:00:00+00:00"}


def test_the_v1_static_sandbox_same_next_token_stops_the_run_after_the_state(
    emulator_factory, tmp_path
):
    # A normal start, then every answer becomes the model's catch-all sandbox example.
    emu = emulator_factory(**DF_EMULATOR)
    config = (
        config_for(emu)
        .with_range("2024-01-01T00:00:00Z", "2024-01-09T00:00:00Z")
        .with_version("v1")
        .with_setting("window_hours", 24)
        .with_setting("max_concurrency", 2)
        .build()
    )
    with TapProcess(config, None, tmp_path / "run") as tap:
        assert tap.wait_until(lambda t: t.bookmark() is not None)
        emu.reconfigure(df_static_sandbox=True)
        run = tap.stop()

    assert run.returncode == 1
    [line] = error_lines(run.stderr)
    assert re.fullmatch(
        r"getCustomerInvoices answered a nextToken it had already given for window "
        r"\S+\.\.\S+: following it would never end \(Amazon's static sandbox answers every "
        r"request alike\); the run stops",
        line,
    ), line
    bookmark = bookmark_of(run.final_state)
    assert bookmark is not None
    assert "2024-01-01T00:00:00+00:00" < bookmark < "2024-01-09T00:00:00+00:00"


def test_answers_without_the_model_keys_are_asked_again_and_lose_nothing(emulator_factory):
    # One window at a time: a {} answer is followed by a good one for the same request.
    emu = emulator_factory(**DF_EMULATOR, shapeless_body_every=4)
    run = sync(emu, DF_START, DF_END, window_hours=24, max_concurrency=1)

    assert_complete(run, emu, expected_invoices(emu, DF_START, DF_END))
    assert statuses(emu)["200"] >= 2 * 5
    # The one warning left is the six-month one: the dataset is from 2024.
    assert [m for m in messages(run, "WARNING") if "months before now" not in m] == []


def test_answers_without_the_model_keys_twice_are_warned_per_window_and_counted(
    emulator_factory,
):
    emu = emulator_factory(**DF_EMULATOR, shapeless_body_every=1)
    run = sync(emu, DF_START, DF_END, window_hours=24, max_concurrency=1)

    assert run.returncode == 0, run.stderr
    assert run.records() == []
    warnings = [m for m in messages(run, "WARNING") if "without the model's keys" in m]
    assert len(warnings) == 2  # one per window
    assert all(re.search(r"x-amzn-RequestId \S+ and \S+\)", m) for m in warnings)
    assert "2024-01-01T00:00:00+00:00..2024-01-02T00:00:00+00:00" in warnings[0]
    summary = [m for m in messages(run, "INFO") if "getCustomerInvoices:" in m and "mean" in m]
    assert any(
        m.endswith("2 windows cut short by answers without the model's keys") for m in summary
    )


@pytest.mark.parametrize(("form", "refusals"), [("any", 0), ("no-zone", 0), ("with-zone", 1)])
def test_created_exports_under_every_date_form_reading(emulator_factory, form, refusals):
    emu = emulator_factory(days=12, time_scale=600.0, export_date_form=form)
    config = (
        config_for(emu)
        .with_range("2024-01-10T00:00:00Z", "2024-01-13T00:00:00Z")
        .with_setting("create_exports", True)
        .with_setting("export_poll_seconds", 1)
        .build()
    )
    run = run_tap(config, streams=("invoice_exports",))

    assert run.returncode == 0, run.stderr
    created = [
        r for r in run.records("invoice_exports") if r["window_end"][11:] == "00:00:00+00:00"
    ]
    by_day = Counter(
        r["window_start"][:10]
        for r in created
        if parse_datetime(r["window_end"]) - parse_datetime(r["window_start"]) == timedelta(days=1)
    )
    assert by_day == {"2024-01-10": 1, "2024-01-11": 1, "2024-01-12": 1}
    assert statuses(emu, "createInvoicesExport")["400"] == refusals
    assert statuses(emu, "createInvoicesExport")["202"] == 3
    fallbacks = [m for m in messages(run, "INFO") if "refused the dates" in m]
    assert len(fallbacks) == refusals
