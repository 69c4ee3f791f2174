"""Many accounts side by side: Dagster runs one Meltano pipeline per account into PostgreSQL.

Three selling partners of one app (the emulator's SP1, SP2, SP3: SP1 and SP2 share purchase
order numbers on purpose) and a fourth account whose refresh token was revoked. The Dagster
job of orchestration/definitions.py runs them at once (the emulator's token endpoint answers
none of the three until all three have asked: sequential runs would never finish), each
`meltano run --state-id-suffix=<account>` into the same target-postgres tables. Then:
every account's rows are there, keyed by (purchaseOrderNumber, account_id); each account has
its own STATE; Dagster records each account's rows per stream (as loaded) and bookmarks; a
second run reads only what is new, per account; the revoked account fails alone, with one
line, and no STATE. The runs are the README's: ``dg launch --job sync_all_accounts``.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from orchestration.accounts import parse_plan
from orchestration.meltano_run import run_account
from spapi_emulator import numbered_partners
from tap_spinvoices.isotime import parse_datetime
from tests.builders import ConfigBuilder
from tests.e2e.meltano_project import REPO, clean_env, tail
from tests.e2e.orchestrator import discover_catalog, launch, report, require_dagster, run_id
from tests.e2e.pgserver import free_port
from tests.e2e.streams import start_emulator
from tests.e2e.test_postgres import assert_every_stream_loaded_once_per_key
from tests.e2e.warehouse import contents, expected, loaded, touched

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from spapi_emulator import EmulatorServer
    from tests.e2e.pgserver import PostgresServer

SCHEMA = "accounts"
START, FIRST_END, SECOND_END = (
    "2024-01-01T00:00:00Z",
    "2024-01-08T00:00:00Z",
    "2024-01-11T00:00:00Z",
)
PARTNERS = numbered_partners(2, seed=7)  # SP2 (same PO numbers as SP1), SP3 (prefix PB)
GOOD = {"V1": "SP1", "V2": "SP2", "V3": "SP3"}  # account_id -> the emulator's partner
STATE_ID = "emulator:tap-spinvoices-to-target-postgres:{}"
BAD_LINE = (
    "account BAD: meltano run failed (exit 1): tap-spinvoices: LWA: refresh_token was "
    "rejected (invalid_grant)"
)


@pytest.fixture
def partners_emulator() -> Iterator[EmulatorServer]:
    server = start_emulator(selling_partners=PARTNERS, token_rendezvous=len(GOOD))
    yield server
    server.close()


def write_accounts_file(path: Path) -> None:
    accounts = [{"account_id": account, "refresh_token_env": f"RT_{account}"} for account in GOOD]
    accounts.append({"account_id": "BAD", "refresh_token_env": "RT_BAD"})
    plan = {
        "max_concurrent": len(accounts),
        "meltano": {"environment": "emulator", "loader": "target-postgres"},
        "log_dir": str(path.parent / "logs"),
        "accounts": accounts,
    }
    path.write_text(json.dumps(plan))  # JSON is YAML


def orchestrator_env(
    emulator: EmulatorServer, postgres: PostgresServer, tmp_path: Path, end: str
) -> dict[str, str]:
    shared = ConfigBuilder(emulator.url).with_range(START, end).without("refresh_token").build()
    tokens = {p.selling_partner_id: p.refresh_token for p in PARTNERS}
    tokens["SP1"] = emulator.config.refresh_token
    return clean_env(
        DAGSTER_HOME=str(tmp_path / "dagster"),
        SPINVOICES_ACCOUNTS_FILE=str(tmp_path / "accounts.yml"),
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}",
        TAP_SPINVOICES__CATALOG=str(tmp_path / "catalog.json"),  # discovered once, below
        RT_BAD="Atzr|revoked-by-the-vendor",
        **{f"RT_{account}": tokens[partner] for account, partner in GOOD.items()},
        **{f"TAP_SPINVOICES_{k.upper()}": str(v) for k, v in shared.items()},
        **{
            f"TARGET_POSTGRES_{k.upper()}": str(v)
            for k, v in postgres.target_config(default_target_schema=SCHEMA).items()
        },
    )


def run_all_accounts(env: dict[str, str], tmp_path: Path, name: str) -> str:
    """The README's run command for sync_all_accounts; its output (it fails: BAD)."""
    home = tmp_path / "dagster"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    output = launch(env, "sync_all_accounts", tmp_path / f"{name}.log")
    assert "resulted in failure" in output, "the run should fail: account BAD has a revoked token"
    for account in [*GOOD, "BAD"]:
        assert f'Started execution of step "sync_{account}"' in output, tail(output)
    # Dagster's run summary names every failed step: the revoked account, and only it.
    assert "Steps failed: ['sync_BAD']" in output, "\n".join(
        tail((tmp_path / "logs" / f"{account}.log").read_text()) for account in GOOD
    )
    return output


def meltano_state(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every STATE in the Meltano database, by state id."""
    meltano = [str(REPO / ".venv-meltano" / "bin" / "meltano"), "--environment=emulator"]
    listed = subprocess.run(
        [*meltano, "state", "list"], cwd=REPO, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    states: dict[str, dict[str, Any]] = {}
    for state_id in listed:
        got = subprocess.run(
            [*meltano, "state", "get", state_id],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        states[state_id] = json.loads(got.stdout.strip().splitlines()[-1])["singer_state"]
    return states


def rows_per_stream(server: PostgresServer, account: str) -> dict[str, int]:
    """The account's rows in every table of SCHEMA, by table."""
    counts: dict[str, int] = {}
    with psycopg.connect(server.conninfo) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (SCHEMA,)
        ).fetchall()
        for (table,) in tables:
            query = f"SELECT count(*) FROM {SCHEMA}.{table} WHERE account_id = %s"  # noqa: S608
            row = conn.execute(query, (account,)).fetchone()
            assert row is not None
            counts[table] = row[0]
    return counts


def bookmark(state: dict[str, Any]) -> str:
    value: str = state["bookmarks"]["customer_invoices"]["replication_key_value"]
    return value


@pytest.mark.usefixtures("meltano_executable")  # the plugins come from `meltano install`
def test_accounts_run_side_by_side_into_one_warehouse_and_one_failure_stays_alone(
    partners_emulator: EmulatorServer, postgres: PostgresServer, tmp_path: Path
):
    require_dagster()
    write_accounts_file(tmp_path / "accounts.yml")
    discover_catalog(partners_emulator.url, tmp_path / "catalog.json")  # every stream

    # Run 1: every account from START to FIRST_END, all at once.
    env = orchestrator_env(partners_emulator, postgres, tmp_path, FIRST_END)
    output = run_all_accounts(env, tmp_path, "run1")

    failure_lines = [line for line in output.splitlines() if BAD_LINE in line]
    assert failure_lines, tail(output)
    assert all("Atzr|revoked" not in line for line in output.splitlines())
    first = loaded(postgres, SCHEMA)
    want = expected(partners_emulator, GOOD, START, FIRST_END)
    assert contents(first) == want
    shared = {po for po, account in want if account == "V1"} & {
        po for po, account in want if account == "V2"
    }
    assert shared, "V1 and V2 should share purchase order numbers, or this proves nothing"
    assert all((po, "V1") in first and (po, "V2") in first for po in shared)
    assert_every_stream_loaded_once_per_key(postgres, SCHEMA)
    with psycopg.connect(postgres.conninfo) as conn:
        for table in ("customer_invoices", "invoices", "invoice_exports", "invoice_documents"):
            accounts = conn.execute(
                f"SELECT DISTINCT account_id FROM {SCHEMA}.{table}"  # noqa: S608
            ).fetchall()
            assert {a for (a,) in accounts} == set(GOOD), table
    states = meltano_state(env)
    assert set(states) == {STATE_ID.format(account) for account in GOOD}, "no STATE for BAD"
    assert {bookmark(s) for s in states.values()} == {parse_datetime(FIRST_END).isoformat()}
    # What Dagster shows for each account: the rows per stream it loaded, its bookmarks.
    shown, summary = report(env, run_id(output))
    for account in GOOD:
        assert shown[account]["status"] == "succeeded"
        assert shown[account]["rows"] == rows_per_stream(postgres, account)
        assert shown[account]["bookmarks"] == {
            stream: parse_datetime(FIRST_END).isoformat()
            for stream in ("customer_invoices", "invoice_exports", "invoices")
        }
    assert shown["BAD"]["status"] == "failed"
    assert summary.startswith("accounts=4 succeeded=3 failed=1 workers=1 ")

    # Run 2: the same accounts up to SECOND_END: each reads on from its own bookmark.
    env = orchestrator_env(partners_emulator, postgres, tmp_path, SECOND_END)
    run_all_accounts(env, tmp_path, "run2")

    second = loaded(postgres, SCHEMA)
    assert contents(second) == expected(partners_emulator, GOOD, START, SECOND_END)
    new = set(expected(partners_emulator, GOOD, FIRST_END, SECOND_END))
    assert new
    assert touched(first, second) == new, "the second run should load only what is new"
    states = meltano_state(env)
    assert set(states) == {STATE_ID.format(account) for account in GOOD}
    assert {bookmark(s) for s in states.values()} == {parse_datetime(SECOND_END).isoformat()}


def test_a_loader_that_cannot_connect_is_the_failure_line_and_its_log_holds_no_traceback(
    e2e_emulator: EmulatorServer, meltano_executable: Path, tmp_path: Path
):
    del meltano_executable  # the plugins come from `meltano install`
    plan = parse_plan(
        {
            "meltano": {"environment": "emulator"},
            "log_dir": str(tmp_path / "logs"),
            "accounts": [{"account_id": "V1", "refresh_token_env": "RT_V1"}],
        }
    )
    shared = ConfigBuilder(e2e_emulator.url).with_range(START, FIRST_END).without("refresh_token")
    env = clean_env(
        RT_V1=e2e_emulator.config.refresh_token,
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}",
        TAP_SPINVOICES__SELECT=json.dumps(["customer_invoices.*"]),
        TARGET_POSTGRES_PORT=str(free_port()),  # nothing listens there
        **{f"TAP_SPINVOICES_{k.upper()}": str(v) for k, v in shared.build().items()},
    )

    result = run_account(plan, plan.accounts[0], env)

    assert not result.ok
    assert result.error_line.startswith("target-postgres: "), result.log_file.read_text()[-3000:]
    assert "Connection refused" in result.error_line
    log = result.log_file.read_text()
    assert "Traceback" not in log
    assert "│" not in log
