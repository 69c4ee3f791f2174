"""Specifications of the progress lines."""

import logging
from dataclasses import dataclass

from tap_spinvoices.sync.progress import SyncProgress


@dataclass
class Counters:
    requests: int = 0
    throttled: int = 0
    retries: int = 0
    errors: int = 0
    latency_s: float = 0.0
    unexpected_bodies: int = 0


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _progress(clock, logger=None):
    return SyncProgress(
        label="customer_invoices",
        windows_total=10,
        operation="getCustomerInvoices",
        logger=logger or logging.getLogger("test"),
        interval_s=30.0,
        clock=clock,
    )


def test_line_reports_windows_records_requests_rate_and_eta():
    clock = FakeClock()
    progress = _progress(clock)
    progress.add_records(2500)
    for _ in range(4):
        progress.window_done()
    clock.now += 40
    line = progress.line(
        {"getCustomerInvoices": Counters(requests=380, throttled=2)}, 10.0, clock.now
    )
    assert line == (
        "customer_invoices: 4/10 windows, 2,500 records, 380 requests (2 x 429), "
        "9.5 req/s of 10 budget, ETA 1m00s"
    )


def test_a_line_is_logged_once_per_interval(caplog):
    clock = FakeClock()
    progress = _progress(clock, logging.getLogger("progress-test"))
    metrics = {"getCustomerInvoices": Counters(requests=1)}
    with caplog.at_level(logging.INFO, logger="progress-test"):
        progress.maybe_log(metrics, 10.0)
        clock.now += 29
        progress.maybe_log(metrics, 10.0)
        clock.now += 1
        progress.maybe_log(metrics, 10.0)
        progress.maybe_log(metrics, 10.0)
    assert len(caplog.records) == 1
    assert "ETA unknown" in caplog.records[0].getMessage()


def test_summary_has_one_line_per_operation():
    clock = FakeClock()
    progress = _progress(clock)
    clock.now += 10
    lines = progress.summary(
        {
            "getCustomerInvoices": Counters(requests=100, latency_s=25.0),
            "createRestrictedDataToken": Counters(requests=1, latency_s=0.1),
        }
    )
    assert lines[0] == "customer_invoices: done, 0/10 windows, 0 records in 10s"
    assert lines[1].startswith("customer_invoices: createRestrictedDataToken: 1 requests")
    assert lines[2].endswith(
        "getCustomerInvoices: 100 requests, 0 x 429, 0 retries, 0 errors, mean 250 ms, 10.00 req/s"
    )


def test_summary_counts_windows_cut_short_by_answers_without_the_model_keys():
    progress = _progress(FakeClock())
    [_, line] = progress.summary({"getCustomerInvoices": Counters(requests=9, unexpected_bodies=2)})
    assert line.endswith(", 2 windows cut short by answers without the model's keys")
