"""One account's Meltano run (orchestration/meltano_run.py), with a stand-in for meltano."""

from __future__ import annotations

import json

import pytest

from orchestration.accounts import AccountsFileError, parse_plan
from orchestration.meltano_run import (
    account_env,
    bookmarks,
    error_line,
    fold_tracebacks,
    lost_create_race,
    meltano_command,
    record_counts,
    render_line,
    run_account,
    state_id,
)
from tests.unit.test_orchestration_accounts import REPO, TWO

FAILED_RUN = """\
2026-11-30T13:08:47.861134Z [info     ] meltano      Running catalog discovery
2026-11-30T13:08:55.694391Z [info     ] tap-spinvoices Beginning sync of 'customer_invoices'
2026-11-30T13:08:55.700000Z [info     ] tap-spinvoices METRIC: {"type":"counter"}
2026-11-30T13:08:55.803444Z [info     ] tap-spinvoices LWA: refresh_token was rejected (x)
2026-11-30T13:08:55.900000Z [info     ] target-postgres Target sink for 'customer_invoices' is empty
2026-11-30T13:08:55.954089Z [error    ] meltano      Extractor failed
2026-11-30T13:08:55.954889Z [error    ] meltano      Block run completed
"""
# target-postgres without a password: it logs why and exits; Meltano's write to its closed
# stdin then raises BrokenPipeError (meltano/meltano#7047), drawn as a traceback box.
LOADER_CANNOT_START = """\
2026-12-01T21:51:24.222435Z [info     ] tap-spinvoices Beginning sync of 'customer_invoices'
╭─────────────────────────────── Error details ────────────────────────────────╮
│ /x/target_postgres/target.py:62 in __init__                                  │
╰──────────────────────────────────────────────────────────────────────────────╯
AssertionError: Need either the sqlalchemy_url to be set or host, port, user,
password, and dialect+driver to be set

2026-12-01T21:51:24.510018Z [error    ] target-postgres Need either the sqlalchemy_url to be set \
or host, port, user, password, and dialect+driver to be set plugin_exc_message='Need either the \
sqlalchemy_url' plugin_exc_type=AssertionError
2026-12-01T21:51:24.710308Z [info     ] tap-spinvoices Beginning sync of 'invoice_items'
2026-12-01T21:51:25.574130Z [error    ] meltano
╭───────────────────── Traceback (most recent call last) ──────────────────────╮
│ /x/meltano/core/block/singer.py:194 in close_stdin                           │
│ ❱ 194 │   │   │   await self.process_handle.stdin.wait_closed()              │
╰──────────────────────────────────────────────────────────────────────────────╯
BrokenPipeError

2026-12-01T21:51:26.020396Z [error    ] meltano      Task exception was never retrieved
"""


def metric(source: str, stream: str, value: int) -> str:
    point = {"type": "counter", "metric": "record_count", "value": value}
    point["tags"] = {"stream": stream, "pid": 1}
    return f"2026-12-01T21:59:01Z [info     ] {source} METRIC: {json.dumps(point)}"


def test_each_account_runs_with_its_own_state_id_suffix_and_environment():
    plan = parse_plan({**TWO, "meltano": {"environment": "prod"}})
    account = plan.accounts[0]
    assert meltano_command(plan, account, "meltano") == [
        "meltano",
        "--log-format=json",
        "--environment=prod",
        "run",
        "--state-id-suffix=V1234",
        "tap-spinvoices",
        "target-postgres",
    ]
    env = account_env(plan, account, {"RT_V1234": "Atzr|one", "RT_V5678": "Atzr|two"})
    assert env["TAP_SPINVOICES_ACCOUNT_ID"] == "V1234"
    assert env["TAP_SPINVOICES_REFRESH_TOKEN"] == "Atzr|one"  # noqa: S105 - a fake token
    assert env["TAP_SPINVOICES_METRICS_LOG_LEVEL"] == "INFO"  # the rows per stream
    assert env["MELTANO_SYS_DIR_ROOT"].endswith("/.meltano/accounts/V1234")
    assert env["MELTANO_DATABASE_URI"].endswith("/.meltano/meltano.db")
    assert state_id(plan, account, REPO) == "prod:tap-spinvoices-to-target-postgres:V1234"


def test_after_a_lost_attempt_meltanos_stale_job_lock_is_overridden():
    plan = parse_plan(TWO)
    command = meltano_command(plan, plan.accounts[0], "meltano", after_lost_attempt=True)
    assert command[2:4] == ["run", "--force"]


def test_a_workers_own_folder_holds_the_accounts_meltano_folders():
    plan = parse_plan({**TWO, "account_env": {"OUT": "out/{account_id}"}})
    env = account_env(plan, plan.accounts[1], {"RT_V5678": "x", "SPINVOICES_WORK_DIR": "/w/2"})
    assert env["MELTANO_SYS_DIR_ROOT"] == "/w/2/.meltano/accounts/V5678"
    assert env["OUT"] == "out/V5678"


def test_a_missing_refresh_token_variable_names_the_account_and_the_variable():
    plan = parse_plan(TWO)
    with pytest.raises(AccountsFileError, match="account V5678: environment variable RT_V5678"):
        account_env(plan, plan.accounts[1], {"RT_V1234": "Atzr|one"})


def test_the_failed_plugins_last_line_is_the_reason():
    reason = error_line(FAILED_RUN, parse_plan(TWO))
    assert reason == "tap-spinvoices: LWA: refresh_token was rejected (x)"


def test_a_loader_that_cannot_start_is_the_reason_not_the_broken_pipe_after_it():
    reason = error_line(LOADER_CANNOT_START, parse_plan(TWO))
    assert reason == (
        "target-postgres: Need either the sqlalchemy_url to be set or host, port, user, "
        "password, and dialect+driver to be set"
    )


def test_without_a_failed_plugin_meltanos_own_error_is_the_reason():
    log = "2026-11-30T13:09:56Z [error    ] meltano      (sqlite3.OperationalError) locked\n"
    assert error_line(log, parse_plan(TWO)) == "(sqlite3.OperationalError) locked"


def test_tracebacks_are_folded_into_one_line_and_the_cause_stays():
    folded = "".join(fold_tracebacks(LOADER_CANNOT_START.splitlines(keepends=True)))
    assert "│" not in folded
    assert "╭" not in folded
    assert folded.count("(a traceback of ") == 2
    assert "[error    ] target-postgres Need either the sqlalchemy_url" in folded
    assert "\nBrokenPipeError\n" in folded


def meltano_json(**event: object) -> str:
    return json.dumps({"level": "info", "timestamp": "2026-12-01T23:32:30Z", **event}) + "\n"


def test_meltanos_json_log_is_rendered_as_its_console_lines_metrics_with_their_stream():
    metric = {"type": "counter", "metric": "record_count", "value": 60}
    metric["tags"] = {"stream": "invoices", "context": {"marketplaceId": "A2Q3Y263D00KWC"}}
    lines = [
        meltano_json(event="Environment 'emulator' is active"),
        meltano_json(event="METRIC", string_id="tap-spinvoices", metric_info=metric),
        meltano_json(event="LWA: refresh_token was rejected", string_id="tap-spinvoices"),
        "a plain line\n",
        meltano_json(event="Extractor failed", level="error"),
    ]
    rendered = [text for line in lines for text in render_line(line)]
    assert rendered[0] == (
        "2026-12-01T23:32:30Z [info     ] meltano        Environment 'emulator' is active\n"
    )
    assert rendered[3] == "a plain line\n"
    log = "".join(rendered)
    assert record_counts(log, parse_plan(TWO)) == {"invoices": 60}
    assert error_line(log, parse_plan(TWO)) == "tap-spinvoices: LWA: refresh_token was rejected"


@pytest.mark.parametrize(
    ("exception", "size", "last"),
    [
        (
            "Traceback (most recent call last):\n  File x, line 1\nBrokenPipeError",
            3,
            "BrokenPipeError",
        ),
        (
            [{"exc_type": "BrokenPipeError", "exc_value": "", "frames": [{"lineno": 1}] * 4}],
            4,
            "BrokenPipeError",
        ),
        ([{"exc_type": "OSError", "exc_value": "gone", "frames": []}], 0, "OSError: gone"),
    ],
)
def test_an_events_traceback_is_folded_to_its_last_line(exception, size, last):
    line = meltano_json(event="Task exception", level="error", exception=exception)
    folded = (
        f"(a traceback of {size} lines, folded: the cause is the error line near it; run the "
        "command at the top of this log by hand to see it whole)\n"
    )
    assert render_line(line)[1:] == [folded, f"{last}\n"]


def test_rows_per_stream_are_the_sum_of_the_extractors_record_counts():
    log = "\n".join(
        [
            metric("tap-spinvoices", "customer_invoices", 100),
            metric("tap-spinvoices", "customer_invoices", 44),
            metric("tap-spinvoices", "invoices", 7),
            metric("target-postgres", "customer_invoices", 144),  # the loader's own count
            "2026-12-01T21:59:01Z [info     ] tap-spinvoices METRIC: {not json",
        ]
    )
    assert record_counts(log, parse_plan(TWO)) == {"customer_invoices": 144, "invoices": 7}


def test_the_bookmark_reached_is_the_least_advanced_partitions():
    state = {
        "bookmarks": {
            "customer_invoices": {"replication_key_value": "2024-01-08T00:00:00+00:00"},
            "invoices": {
                "partitions": [
                    {"context": {"m": "A"}, "replication_key_value": "2024-01-09T00:00:00+00:00"},
                    {"context": {"m": "B"}, "replication_key_value": "2024-01-07T00:00:00+00:00"},
                ]
            },
            "invoice_documents": {"done_document_ids": ["d1"]},
        }
    }
    assert bookmarks(state) == {
        "customer_invoices": "2024-01-08T00:00:00+00:00",
        "invoices": "2024-01-07T00:00:00+00:00",
    }
    assert bookmarks({}) == {}
    assert bookmarks("not a state") == {}


# A stand-in for meltano: counts its runs, fails the first with the given line, prints a
# STATE for `state get`.
FAKE_MELTANO = """#!/bin/sh
if [ "$1" = "state" ] || [ "$2" = "state" ]; then
    echo '{"singer_state": {"bookmarks": {"customer_invoices": {"replication_key_value": "B"}}}}'
    exit 0
fi
calls=$(cat "$CALLS" 2>/dev/null || echo 0)
echo $((calls + 1)) > "$CALLS"
if [ "$calls" -eq 0 ]; then
    echo "2026-11-30T14:06:33Z [error    ] target-postgres $FIRST_LINE"
    echo "2026-11-30T14:06:35Z [error    ] meltano      Loader failed"
    exit 1
fi
echo '2026-11-30T14:07:00Z [info     ] tap-spinvoices METRIC: {"metric": "record_count", \
"value": 3, "tags": {"stream": "customer_invoices"}}'
echo "2026-11-30T14:07:00Z [info     ] meltano      Run completed"
"""


@pytest.mark.parametrize(
    ("first_line", "calls", "ok"),
    [
        ('(psycopg.errors.DuplicateTable) relation "customer_invoices" already exists', 2, True),
        ('duplicate key value violates unique constraint "pg_type_typname_nsp_index"', 2, True),
        ("(psycopg.OperationalError) connection refused", 1, False),
    ],
)
def test_only_a_lost_table_creation_race_is_run_again(tmp_path, monkeypatch, first_line, calls, ok):
    meltano = tmp_path / "meltano"
    meltano.write_text(FAKE_MELTANO)
    meltano.chmod(0o755)
    for name, value in {
        "MELTANO_BIN": str(meltano),
        "MELTANO_PROJECT_ROOT": str(tmp_path),
        "CALLS": str(tmp_path / "calls"),
        "FIRST_LINE": first_line,
        "RT_V1234": "Atzr|one",
    }.items():
        monkeypatch.setenv(name, value)
    plan = parse_plan({**TWO, "log_dir": str(tmp_path / "logs"), "meltano": {"environment": "e"}})

    result = run_account(plan, plan.accounts[0])

    assert (tmp_path / "calls").read_text().strip() == str(calls)
    assert result.ok is ok
    assert lost_create_race(first_line) is ok
    if ok:
        assert result.rows == {"customer_invoices": 3}
        assert result.bookmarks == {"customer_invoices": "B"}
    else:
        assert result.summary().startswith(
            "account V1234: meltano run failed (exit 1): target-postgres: (psycopg.Operational"
        )
        assert (result.rows, result.bookmarks) == ({}, {})
