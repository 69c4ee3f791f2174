"""Many accounts side by side: Dagster runs one Meltano pipeline per account into PostgreSQL.

Three selling partners of one app (the emulator's SP1, SP2, SP3: SP1 and SP2 share purchase
order numbers on purpose) and a fourth account whose refresh token was revoked. The Dagster
job of orchestration/definitions.py runs them at once (the emulator's token endpoint answers
none of the three until all three have asked: sequential runs would never finish), each
`meltano run --state-id-suffix=<account>` into the same target-postgres tables. Then:
every account's rows are there, keyed by (purchaseOrderNumber, account_id); each account has
its own STATE; a second run reads only what is new, per account; the revoked account fails
alone, with one line, and no STATE.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from spapi_emulator import numbered_partners
from tap_spinvoices.isotime import parse_datetime
from tests.builders import ConfigBuilder
from tests.e2e.meltano_project import REPO, clean_env, tail
from tests.e2e.streams import start_emulator
from tests.e2e.test_postgres import assert_every_stream_loaded_once_per_key

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from spapi_emulator import EmulatorServer
    from tests.e2e.pgserver import PostgresServer

DAGSTER = REPO / ".venv-dagster" / "bin" / "dagster"
DAGSTER_HINT = "Dagster is missing: run scripts/install-dagster (.ci/run does)"
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
        RT_BAD="Atzr|revoked-by-the-vendor",
        **{f"RT_{account}": tokens[partner] for account, partner in GOOD.items()},
        **{f"TAP_SPINVOICES_{k.upper()}": str(v) for k, v in shared.items()},
        **{
            f"TARGET_POSTGRES_{k.upper()}": str(v)
            for k, v in postgres.target_config(default_target_schema=SCHEMA).items()
        },
    )


def run_all_accounts(env: dict[str, str], tmp_path: Path, name: str) -> str:
    """`dagster job execute ... -j sync_all_accounts`; returns its output (it fails: BAD)."""
    home = tmp_path / "dagster"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    command = [str(DAGSTER), "job", "execute", "-m", "orchestration.definitions"]
    proc = subprocess.run(
        [*command, "-j", "sync_all_accounts"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    output = proc.stdout + proc.stderr
    (tmp_path / f"{name}.log").write_text(output)
    assert proc.returncode != 0, "the run should fail: account BAD has a revoked token"
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


def loaded(server: PostgresServer) -> dict[tuple[str, str], tuple[str, Any]]:
    """(purchaseOrderNumber, account_id) -> (content, _sdc_extracted_at)."""
    columns = '"purchaseOrderNumber", account_id, content, _sdc_extracted_at'
    query = f"SELECT {columns} FROM {SCHEMA}.customer_invoices"  # noqa: S608 - constants
    with psycopg.connect(server.conninfo) as conn:
        rows = conn.execute(query).fetchall()
    return {(po, account): (content, extracted) for po, account, content, extracted in rows}


def expected(emulator: EmulatorServer, start: str, end: str) -> dict[tuple[str, str], str]:
    """(purchaseOrderNumber, account_id) -> content every account's sync must load."""
    result: dict[tuple[str, str], str] = {}
    for account, partner in GOOD.items():
        dataset = emulator.dataset_of(partner)
        for invoice in dataset.invoices(parse_datetime(start), parse_datetime(end)):
            po = invoice.purchase_order_number
            result[(po, account)] = dataset.content(po)
    return result


def bookmark(state: dict[str, Any]) -> str:
    value: str = state["bookmarks"]["customer_invoices"]["replication_key_value"]
    return value


@pytest.mark.usefixtures("meltano_executable")  # the plugins come from `meltano install`
def test_accounts_run_side_by_side_into_one_warehouse_and_one_failure_stays_alone(
    partners_emulator: EmulatorServer, postgres: PostgresServer, tmp_path: Path
):
    if not os.access(DAGSTER, os.X_OK):
        pytest.fail(DAGSTER_HINT, pytrace=False)
    write_accounts_file(tmp_path / "accounts.yml")

    # Run 1: every account from START to FIRST_END, all at once.
    env = orchestrator_env(partners_emulator, postgres, tmp_path, FIRST_END)
    output = run_all_accounts(env, tmp_path, "run1")

    failure_lines = [line for line in output.splitlines() if BAD_LINE in line]
    assert failure_lines, tail(output)
    assert all("Atzr|revoked" not in line for line in output.splitlines())
    first = loaded(postgres)
    want = expected(partners_emulator, START, FIRST_END)
    assert {key: content for key, (content, _) in first.items()} == want
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

    # Run 2: the same accounts up to SECOND_END: each reads on from its own bookmark.
    env = orchestrator_env(partners_emulator, postgres, tmp_path, SECOND_END)
    run_all_accounts(env, tmp_path, "run2")

    second = loaded(postgres)
    assert {key: content for key, (content, _) in second.items()} == expected(
        partners_emulator, START, SECOND_END
    )
    new = set(expected(partners_emulator, FIRST_END, SECOND_END))
    touched = {key for key, (_, at) in second.items() if first.get(key, (None, None))[1] != at}
    assert new
    assert touched == new, "the second run should load only invoices after the bookmark"
    states = meltano_state(env)
    assert set(states) == {STATE_ID.format(account) for account in GOOD}
    assert {bookmark(s) for s in states.values()} == {parse_datetime(SECOND_END).isoformat()}
