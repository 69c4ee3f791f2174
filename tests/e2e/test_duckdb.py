"""Money in DuckDB: target-duckdb 0.8.0 stores every JSON-schema number as a DOUBLE.

Its column mapping has no hint for exact decimals (target_duckdb/db_sync.py column_type:
``number`` is always ``double``), so an amount like vNF 1575.78 is stored as the nearest
binary float, 1575.7799999999999727. The NF-e layout gives every amount two decimals and at
most 15 digits (TDec_1302), which a DOUBLE holds to the last digit: ``CAST(vnf AS
DECIMAL(15,2))`` gives back the XML's text for every NF-e. docs/warehouses.md has the cast for
each column. Every stream is loaded; the test pins the types and the cast, not the row counts
(target-duckdb drops a row per batch on its own, see docs/warehouses.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import config_for
from tests.e2e.streams import number_columns
from tests.e2e.test_postgres import nfe_expected
from tests.singer_run import tap_command, tap_env

if TYPE_CHECKING:
    from spapi_emulator import EmulatorServer

TARGET = "target-duckdb==0.8.0"
START, END = "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"
QUERY = """
import duckdb, json, sys
db = duckdb.connect(sys.argv[1], read_only=True)
types = db.execute(
    "SELECT table_name, column_name, data_type FROM information_schema.columns"
    " WHERE table_schema = 'spinvoices'"
).fetchall()
nfe = db.execute(
    "SELECT accesskey, CAST(vnf AS DECIMAL(15, 2))::VARCHAR FROM spinvoices.invoice_documents"
    " WHERE parse_status = 'parsed' AND document_type = 'nfeProc'"
).fetchall()
sums = db.execute(
    "SELECT sum(vnf)::VARCHAR, sum(CAST(vnf AS DECIMAL(15, 2)))::VARCHAR"
    " FROM spinvoices.invoice_documents WHERE parse_status = 'parsed' AND document_type = 'nfeProc'"
).fetchone()
json.dump({"types": types, "nfe": nfe, "sums": sums}, sys.stdout)
"""


def test_every_amount_is_a_double_and_the_decimal_cast_gives_the_xml_text_back(
    e2e_emulator: EmulatorServer, tmp_path: Path
):
    venv = tmp_path / "target-duckdb"
    uv = Path(sys.executable).with_name("uv")
    subprocess.run([str(uv), "venv", "--quiet", str(venv)], check=True, capture_output=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--python", python, TARGET],
        check=True,
        capture_output=True,
    )
    database = tmp_path / "warehouse.duckdb"
    target_config = tmp_path / "target.json"
    target_config.write_text(
        json.dumps({"filepath": str(database), "default_target_schema": "spinvoices"})
    )
    config = config_for(e2e_emulator).with_range(START, END).build()

    tap = subprocess.Popen(
        tap_command(config, None, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=tap_env(),
    )
    with tap.stdout:  # type: ignore[union-attr]
        target = subprocess.run(
            [str(venv / "bin" / "target-duckdb"), "--config", str(target_config)],
            stdin=tap.stdout,
            capture_output=True,
            check=False,
            timeout=600,
        )
    assert tap.wait(timeout=600) == 0
    assert target.returncode == 0, target.stderr.decode()[-2000:]
    found = json.loads(
        subprocess.run([python, "-c", QUERY, str(database)], capture_output=True, check=True).stdout
    )

    types = {f"{table}.{column}": kind for table, column, kind in found["types"]}
    numbers = [f"{s}.{c.lower()}" for s, cols in number_columns().items() for c in cols]
    assert {column: types.get(column) for column in numbers} == dict.fromkeys(numbers, "DOUBLE")
    totals, _, _ = nfe_expected(e2e_emulator, START, END)
    assert found["nfe"]  # NF-e landed (target-duckdb may drop some, never alter one)
    for key, exact in found["nfe"]:
        assert exact == totals[key]  # the cast gives the XML text back
    exact_sum = str(sum(Decimal(exact) for _, exact in found["nfe"]))
    _, decimal_sum = found["sums"]  # the DOUBLE sum drifts in the last digits (docs)
    assert decimal_sum == exact_sum
