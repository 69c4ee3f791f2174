"""The tap piped into MeltanoLabs target-postgres, loading a real PostgreSQL server.

A first run loads 10 days of every stream; a second run resumes from the first run's final
STATE (as the target echoed it), re-reads the lookback (4 hours) and adds only the new
invoices: the target's upsert on the primary key keeps one row per key. A third test loads
through BATCH messages (gzipped JSONL files) instead of RECORD messages.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import psycopg
import pytest

from tap_spinvoices.isotime import parse_datetime
from tests.conftest import config_for, expected_invoices
from tests.e2e.meltano_project import PLUGINS, Meltano, tail
from tests.e2e.streams import number_columns, primary_keys
from tests.e2e.test_meltano import environment_config
from tests.singer_run import tap_command, tap_env
from tests.state_checks import find_key

if TYPE_CHECKING:
    from pathlib import Path

    from spapi_emulator import EmulatorServer
    from tests.e2e.pgserver import PostgresServer

PARTIES = ("WH-BLR-1", "WH-DEL-2")
START = "2024-01-01T00:00:00Z"
FIRST_END = "2024-01-11T00:00:00Z"
SECOND_END = "2024-01-16T00:00:00Z"
LOOKBACK_MINUTES = 240
SCHEMA = "spinvoices"
NFE = "{http://www.portalfiscal.inf.br/nfe}"


def run_pipeline(
    config: dict[str, Any],
    state: dict[str, Any] | None,
    target_config: dict[str, Any],
    workdir: Path,
) -> dict[str, Any]:
    """`tap | target-postgres`; returns the last STATE the target emitted (what it committed)."""
    workdir.mkdir()
    target_config_path = workdir / "target.json"
    target_config_path.write_text(json.dumps(target_config))
    tap_log, target_log = workdir / "tap.log", workdir / "target.log"
    with tap_log.open("wb") as tap_err, target_log.open("wb") as target_err:
        tap = subprocess.Popen(
            tap_command(config, state, workdir),
            stdout=subprocess.PIPE,
            stderr=tap_err,
            stdin=subprocess.DEVNULL,
            env=tap_env(),
        )
        assert tap.stdout is not None
        target = subprocess.Popen(
            [str(PLUGINS["target-postgres"]), "--config", str(target_config_path)],
            stdin=tap.stdout,
            stdout=subprocess.PIPE,
            stderr=target_err,
        )
        tap.stdout.close()  # the target owns the read end now
        try:
            out, _ = target.communicate(timeout=300)
            tap.wait(timeout=60)
        finally:
            for proc in (tap, target):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    assert tap.returncode == 0, f"tap failed:\n{tail(tap_log.read_text())}"
    assert target.returncode == 0, f"target-postgres failed:\n{tail(target_log.read_text())}"
    states = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert states, f"target-postgres emitted no STATE:\n{tail(target_log.read_text())}"
    final: dict[str, Any] = states[-1]
    return final


def rows(server: PostgresServer, schema: str = SCHEMA) -> dict[str, tuple[str, Any]]:
    """purchaseOrderNumber -> (content, _sdc_extracted_at) of every customer_invoices row."""
    with psycopg.connect(server.conninfo) as conn:
        loaded = conn.execute(
            f'SELECT "purchaseOrderNumber", content, _sdc_extracted_at FROM {schema}.customer_invoices'  # noqa: S608, E501
        ).fetchall()
    return {po: (content, extracted) for po, content, extracted in loaded}


def assert_every_stream_loaded_once_per_key(server: PostgresServer, schema: str = SCHEMA) -> None:
    """Each stream has a non-empty table holding one row per primary key."""
    with psycopg.connect(server.conninfo) as conn:
        for stream, keys in primary_keys().items():
            columns = ", ".join(f'"{key}"' for key in keys)
            count, distinct = conn.execute(
                f"SELECT count(*), count(DISTINCT ({columns})) FROM {schema}.{stream}"  # noqa: S608
            ).fetchone() or (0, 0)
            assert count > 0, f"{schema}.{stream} is empty"
            assert count == distinct, f"{schema}.{stream}: {count} rows, {distinct} keys"


def bookmarks(state: dict[str, Any]) -> dict[str, str]:
    partitions = state["bookmarks"]["customer_invoices"]["partitions"]
    return {p["context"]["ship_from_party_id"]: p["replication_key_value"] for p in partitions}


def numbers(invoices: list[Any]) -> set[str]:
    return {i.purchase_order_number for i in invoices}


@pytest.mark.usefixtures("meltano_executable")  # target-postgres comes from `meltano install`
def test_tap_into_target_postgres_loads_then_adds_only_new_invoices(
    e2e_emulator: EmulatorServer, postgres: PostgresServer, tmp_path: Path
):
    emulator = e2e_emulator
    target_config = postgres.target_config(
        default_target_schema=SCHEMA, load_method="upsert", add_record_metadata=True
    )
    base = config_for(emulator).with_parties(*PARTIES)

    # Run 1: a fresh backfill.
    first_config = base.with_range(START, FIRST_END).build()
    first_state = run_pipeline(first_config, None, target_config, tmp_path / "run1")

    first_expected = expected_invoices(emulator, START, FIRST_END, PARTIES)
    assert len(first_expected) == 10 * 24 * 2
    assert_every_stream_loaded_once_per_key(postgres)
    after_first = rows(postgres)
    assert set(after_first) == numbers(first_expected)
    assert all(content == emulator.dataset.content(po) for po, (content, _) in after_first.items())
    assert not find_key(first_state, "progress_markers")
    assert set(bookmarks(first_state).values()) == {parse_datetime(FIRST_END).isoformat()}

    # Run 2: resume from the first run's final STATE, with 4 hours of lookback.
    second_config = (
        base.with_range(START, SECOND_END)
        .with_setting("lookback_minutes", LOOKBACK_MINUTES)
        .build()
    )
    second_state = run_pipeline(second_config, first_state, target_config, tmp_path / "run2")

    assert_every_stream_loaded_once_per_key(postgres)
    after_second = rows(postgres)
    all_expected = numbers(expected_invoices(emulator, START, SECOND_END, PARTIES))
    new = numbers(expected_invoices(emulator, FIRST_END, SECOND_END, PARTIES))
    lookback_start = (parse_datetime(FIRST_END) - timedelta(minutes=LOOKBACK_MINUTES)).isoformat()
    reread = numbers(expected_invoices(emulator, lookback_start, FIRST_END, PARTIES))
    assert set(after_second) == all_expected
    assert len(after_second) == len(after_first) + len(new)
    # Rows the second run wrote: the new invoices plus the lookback, upserted in place;
    # every older row is untouched.
    touched = {
        po
        for po, (_, extracted) in after_second.items()
        if after_first.get(po, (None, None))[1] != extracted
    }
    assert reread, "the lookback should hold invoices, or this test proves nothing"
    assert touched == new | reread
    assert not find_key(second_state, "progress_markers")
    assert set(bookmarks(second_state).values()) == {parse_datetime(SECOND_END).isoformat()}


@pytest.mark.usefixtures("meltano_executable")
def test_batch_messages_load_into_target_postgres(
    e2e_emulator: EmulatorServer, postgres: PostgresServer, tmp_path: Path
):
    schema = "spinvoices_batch"
    batches = tmp_path / "batches"
    config = (
        config_for(e2e_emulator)
        .with_range(START, FIRST_END)
        .with_setting(
            "batch_config",
            {
                "encoding": {"format": "jsonl", "compression": "gzip"},
                "storage": {"root": batches.as_uri(), "prefix": "spinvoices-"},
                "batch_size": 100,
            },
        )
        .build()
    )
    target_config = postgres.target_config(default_target_schema=schema, load_method="upsert")

    state = run_pipeline(config, None, target_config, tmp_path / "run")

    assert sorted(p.name for p in batches.glob("spinvoices-*customer_invoices*.json.gz"))
    assert_every_stream_loaded_once_per_key(postgres, schema)
    loaded = rows(postgres, schema)
    assert set(loaded) == numbers(expected_invoices(e2e_emulator, START, FIRST_END))
    assert not find_key(state, "progress_markers")
    final = state["bookmarks"]["customer_invoices"]["replication_key_value"]
    assert final == parse_datetime(FIRST_END).isoformat()


def nfe_expected(emulator: EmulatorServer, start: str, end: str) -> tuple[dict[str, str], int, int]:
    """Access key -> vNF text of every NF-e in the DONE exports created in [start, end), the
    number of their items and of their cancellation events, read from the XML text."""
    api = emulator.invoices_api
    upper = parse_datetime(end) - timedelta(microseconds=1)
    totals: dict[str, str] = {}
    items = events = 0
    for view in api.exports(parse_datetime(start), upper, status="DONE"):
        for document_id in view.document_ids:
            for _, _, data in api.document_files(document_id):
                root = ET.fromstring(data)  # noqa: S314 - the emulator's own document
                if root.tag == f"{NFE}procEventoNFe":
                    events += 1
                    continue
                info = root.find(f"{NFE}NFe/{NFE}infNFe")
                assert info is not None
                key = info.get("Id", "").removeprefix("NFe")
                totals[key] = info.findtext(f"{NFE}total/{NFE}ICMSTot/{NFE}vNF") or ""
                items += len(info.findall(f"{NFE}det"))
    return totals, items, events


def test_meltano_run_into_target_postgres_loads_nfe_invoices_and_items_with_exact_decimals(
    meltano: Meltano, e2e_emulator: EmulatorServer, postgres: PostgresServer
):
    schema = "spinvoices_nfe"
    target = postgres.target_config(default_target_schema=schema)
    env = {
        "TAP_SPINVOICES_API_URL": e2e_emulator.url,
        "TAP_SPINVOICES_LWA_TOKEN_URL": f"{e2e_emulator.url}/auth/o2/token",
        **{f"TARGET_POSTGRES_{name.upper()}": str(value) for name, value in target.items()},
    }
    config = environment_config("emulator")

    proc = meltano.run(
        "--environment=emulator", "run", "tap-spinvoices", "target-postgres", env=env
    )

    assert proc.returncode == 0, tail(proc.stderr)
    totals, item_count, event_count = nfe_expected(
        e2e_emulator, config["start_date"], config["end_date"]
    )
    assert totals
    assert event_count > 0
    with psycopg.connect(postgres.conninfo) as conn:
        every_type = dict(
            conn.execute(
                "SELECT table_name || '.' || column_name, data_type"
                " FROM information_schema.columns WHERE table_schema = %s",
                (schema,),
            ).fetchall()
        )
        loaded = dict(
            conn.execute(
                f'SELECT "accessKey", "vNF"::text FROM {schema}.invoice_documents'  # noqa: S608
                " WHERE parse_status = 'parsed' AND document_type = 'nfeProc'"
            ).fetchall()
        )
        (total,) = conn.execute(
            f'SELECT sum("vNF")::text FROM {schema}.invoice_documents'  # noqa: S608
        ).fetchone() or (None,)
        (items,) = conn.execute(
            f"SELECT count(*) FROM {schema}.invoice_items"  # noqa: S608
        ).fetchone() or (0,)
        (matching_lines,) = conn.execute(
            # Each NF-e's vProd equals the sum of its item lines, as exact numerics.
            f'SELECT count(*) FROM {schema}.invoice_documents d WHERE d."vProd" ='  # noqa: S608
            f' (SELECT sum(i."vProd") FROM {schema}.invoice_items i'
            ' WHERE i."accessKey" = d."accessKey")'
        ).fetchone() or (0,)
        issued = conn.execute(
            f'SELECT "dhEmi", "issuedAtUtc" FROM {schema}.invoice_documents'  # noqa: S608
            " WHERE parse_status = 'parsed' AND document_type = 'nfeProc'"
        ).fetchall()
        (cancelled,) = conn.execute(
            f"SELECT count(*) FROM {schema}.invoice_events"  # noqa: S608
            " WHERE \"tpEvento\" = '110111'"
        ).fetchone() or (0,)
    # target-postgres makes every JSON-schema "number" (amounts, rates, quantities of every
    # stream) an unconstrained NUMERIC: no float on the way (docs/warehouses.md).
    numbers = [f"{stream}.{c}" for stream, cols in number_columns().items() for c in cols]
    assert len(numbers) >= 20  # invoice_documents totals, invoice_items amounts and rates
    column_types = {column: every_type.get(column) for column in numbers}
    assert set(column_types.values()) == {"numeric"}, column_types
    assert loaded == totals  # every NF-e, each vNF digit for digit as in its XML
    assert total == str(sum(Decimal(v) for v in totals.values()))
    assert items == item_count
    assert matching_lines == len(totals)
    assert cancelled == event_count
    # dhEmi stays text with its -03:00 offset; issuedAtUtc lands in a TIMESTAMP column as the
    # same instant in UTC.
    assert issued
    for written, utc in issued:
        assert utc == datetime.fromisoformat(written).astimezone(UTC).replace(tzinfo=None)
