"""Quiet success, loud failure: what the tap's log holds when nothing went wrong.

A successful run (a sync, or the SDK's `--test` dry run) logs no ERROR line; singer-sdk's
start-up details are DEBUG lines; METRIC lines follow `metrics_log_level`. Under Meltano the
levels survive (tests/e2e/test_logs.py).
"""

from __future__ import annotations

from tests.conftest import config_for
from tests.singer_run import run_tap

ONE_DAY = ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
START_UP_DETAILS = ("Skipping parse of env var settings", "as child stream to")


def lines_at(stderr: str, level: str) -> list[str]:
    return [line for line in stderr.splitlines() if f"| {level:<8} |" in line]


def test_test_mode_stops_each_stream_after_one_record_without_an_error_line(emulator):
    config = config_for(emulator).with_range(*ONE_DAY).build()
    run = run_tap(config, None, "--test", streams=None)

    assert run.returncode == 0, run.stderr
    assert run.records()  # the dry run did sync: one record a stream
    assert lines_at(run.stderr, "ERROR") == []
    assert "An unhandled error occurred" not in run.stderr


def test_a_successful_sync_of_every_stream_logs_no_error_and_no_start_up_details(emulator):
    config = config_for(emulator).with_range(*ONE_DAY).build()
    run = run_tap(config, streams=None)

    assert run.returncode == 0, run.stderr
    assert lines_at(run.stderr, "ERROR") == []
    assert [
        line for line in run.stderr.splitlines() if any(d in line for d in START_UP_DETAILS)
    ] == []
    assert "METRIC: " in run.stderr  # shown by default, as singer-sdk does


def test_start_up_details_are_debug_lines(emulator):
    config = config_for(emulator).with_range(*ONE_DAY).build()
    run = run_tap(config, log_level="DEBUG")

    assert run.returncode == 0, run.stderr
    details = [line for line in run.stderr.splitlines() if "Skipping parse of env var" in line]
    assert len(details) == 1
    assert "| DEBUG    |" in details[0]


def test_metrics_log_level_warning_hides_the_metric_lines(emulator):
    config = config_for(emulator).with_range(*ONE_DAY).with_setting("metrics_log_level", "WARNING")
    run = run_tap(config.build())

    assert run.returncode == 0, run.stderr
    assert "METRIC" not in run.stderr
    assert run.records()


def test_a_failed_run_still_has_its_one_error_line(emulator):
    config = config_for(emulator).with_range(*ONE_DAY).with_setting("refresh_token", "Atzr|wrong")
    run = run_tap(config.build())

    assert run.returncode == 1
    (line,) = lines_at(run.stderr, "ERROR")
    assert "refresh_token was rejected (invalid_grant)" in line
