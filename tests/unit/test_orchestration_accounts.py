"""The account list and one account's Meltano run (orchestration/accounts.py), without Dagster."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.accounts import (
    Account,
    AccountsFileError,
    account_env,
    error_line,
    load_plan,
    lost_create_race,
    meltano_command,
    parse_plan,
    run_account,
)

REPO = Path(__file__).resolve().parents[2]
TWO = {
    "accounts": [
        {"account_id": "V1234", "refresh_token_env": "RT_V1234"},
        {"account_id": "V5678", "refresh_token_env": "RT_V5678"},
    ]
}
FAILED_RUN = """\
2026-11-30T13:08:47.861134Z [info     ] meltano      Running catalog discovery
2026-11-30T13:08:55.694391Z [info     ] tap-spinvoices Beginning sync of 'customer_invoices'
2026-11-30T13:08:55.700000Z [info     ] tap-spinvoices METRIC: {"type":"counter"}
2026-11-30T13:08:55.803444Z [info     ] tap-spinvoices LWA: refresh_token was rejected (x)
2026-11-30T13:08:55.900000Z [info     ] target-postgres Target sink for 'customer_invoices' is empty
2026-11-30T13:08:55.954089Z [error    ] meltano      Extractor failed
2026-11-30T13:08:55.954889Z [error    ] meltano      Block run completed
"""


def test_example_account_list_in_the_repository_is_valid():
    plan = load_plan(REPO / "orchestration" / "accounts.yml")
    assert [a.account_id for a in plan.accounts] == ["V1234", "V5678"]
    assert plan.max_concurrent >= 1


def test_defaults_run_tap_spinvoices_into_target_postgres_four_at_a_time():
    plan = parse_plan(TWO)
    assert (plan.extractor, plan.loader, plan.max_concurrent) == (
        "tap-spinvoices",
        "target-postgres",
        4,
    )
    assert plan.accounts[0] == Account("V1234", "RT_V1234")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "needs an 'accounts:' list"),
        ({"accounts": ["V1"]}, r"accounts\[0\] must be a mapping"),
        ({"accounts": [{"account_id": "a b", "refresh_token_env": "X"}]}, "account_id 'a b'"),
        (
            {"accounts": [{"account_id": "V1", "refresh_token": "Atzr|x"}]},
            "keep secrets out of files",
        ),
        ({"accounts": [{"account_id": "V1", "refresh_token_env": "1X"}]}, "must name an env"),
        ({"accounts": TWO["accounts"] * 2}, "listed twice: V1234, V5678"),
        ({**TWO, "max_concurrent": 0}, "max_concurrent must be"),
    ],
)
def test_bad_account_lists_are_refused_with_the_entry_and_the_fix(raw, message):
    with pytest.raises(AccountsFileError, match=message):
        parse_plan(raw)


def test_each_account_runs_with_its_own_state_id_suffix_and_environment():
    plan = parse_plan({**TWO, "meltano": {"environment": "prod"}})
    account = plan.accounts[0]
    assert meltano_command(plan, account, "meltano") == [
        "meltano",
        "--environment=prod",
        "run",
        "--state-id-suffix=V1234",
        "tap-spinvoices",
        "target-postgres",
    ]
    env = account_env(account, {"RT_V1234": "Atzr|one", "RT_V5678": "Atzr|two", "PATH": "/bin"})
    assert env["TAP_SPINVOICES_ACCOUNT_ID"] == "V1234"
    assert env["TAP_SPINVOICES_REFRESH_TOKEN"] == "Atzr|one"  # noqa: S105 - a fake token
    assert env["MELTANO_SYS_DIR_ROOT"].endswith("/.meltano/accounts/V1234")
    assert env["MELTANO_DATABASE_URI"].endswith("/.meltano/meltano.db")


def test_a_missing_refresh_token_variable_names_the_account_and_the_variable():
    account = parse_plan(TWO).accounts[1]
    with pytest.raises(AccountsFileError, match="account V5678: environment variable RT_V5678"):
        account_env(account, {"RT_V1234": "Atzr|one"})


def test_the_failed_plugins_last_line_is_the_reason():
    reason = error_line(FAILED_RUN, parse_plan(TWO))
    assert reason == "tap-spinvoices: LWA: refresh_token was rejected (x)"


def test_without_a_failed_plugin_meltanos_own_error_is_the_reason():
    log = "2026-11-30T13:09:56Z [error    ] meltano      (sqlite3.OperationalError) locked\n"
    assert error_line(log, parse_plan(TWO)) == "(sqlite3.OperationalError) locked"


# A stand-in for meltano: counts its calls, fails the first one with the given line.
FAKE_MELTANO = """#!/bin/sh
calls=$(cat "$CALLS" 2>/dev/null || echo 0)
echo $((calls + 1)) > "$CALLS"
if [ "$calls" -eq 0 ]; then
    echo "2026-11-30T14:06:33Z [error    ] target-postgres $FIRST_LINE"
    echo "2026-11-30T14:06:35Z [error    ] meltano      Loader failed"
    exit 1
fi
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
    plan = parse_plan({**TWO, "log_dir": str(tmp_path / "logs")})

    result = run_account(plan, plan.accounts[0])

    assert (tmp_path / "calls").read_text().strip() == str(calls)
    assert result.ok is ok
    assert lost_create_race(first_line) is ok
    if not ok:
        assert result.summary().startswith(
            "account V1234: meltano run failed (exit 1): target-postgres: (psycopg.Operational"
        )
