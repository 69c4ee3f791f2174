"""Run the orchestrator as users do (``dg launch``) and read what Dagster recorded.

Dagster lives in ``.venv-dagster``, not in the tests' venv: runs are started with its ``dg``
and read back with ``python -m orchestration.report --json``, which asks Dagster's instance
(DagsterInstance) for each account's steps, events and asset partition.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import IO, TYPE_CHECKING, Any

import pytest

from tests.builders import ConfigBuilder
from tests.e2e.meltano_project import PLUGINS, REPO

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet
    from pathlib import Path

DAGSTER_BIN = REPO / ".venv-dagster" / "bin"
DAGSTER_HINT = "Dagster is missing: run scripts/install-dagster (.ci/run does)"
RUN_TIMEOUT = 900  # bounds a hang only
_RUN_ID = re.compile(r" - ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) - ")


def require_dagster() -> None:
    if not (DAGSTER_BIN / "dg").is_file():
        pytest.fail(DAGSTER_HINT, pytrace=False)


def launch_command(job: str) -> list[str]:
    """The README's run command: ``dg launch --job <job> -m orchestration.definitions``."""
    return [str(DAGSTER_BIN / "dg"), "launch", "--job", job, "-m", "orchestration.definitions"]


def start_launch(env: dict[str, str], job: str, output: IO[str]) -> subprocess.Popen[str]:
    """``dg launch`` in the background, its output to ``output``."""
    return subprocess.Popen(
        launch_command(job),
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )


def launch(env: dict[str, str], job: str, log: Path) -> str:
    """``dg launch`` to the end; returns its output (also written to ``log``)."""
    with log.open("w") as output:
        proc = start_launch(env, job, output)
        proc.wait(timeout=RUN_TIMEOUT)
    return log.read_text()


def run_id(output: str) -> str:
    """The id of the run whose events ``output`` shows."""
    found = _RUN_ID.search(output)
    assert found, output[-3000:]
    return found[1]


def report(env: dict[str, str], run: str) -> tuple[dict[str, dict[str, Any]], str]:
    """Each account of the run as Dagster recorded it (by account_id), and the summary line."""
    proc = subprocess.run(
        [str(DAGSTER_BIN / "python"), "-m", "orchestration.report", "--json", "--run-id", run],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    *rows, summary = proc.stdout.strip().splitlines()
    accounts = [json.loads(row) for row in rows]
    return {a["account_id"]: a for a in accounts}, summary


def discover_catalog(api_url: str, path: Path, selected: AbstractSet[str] | None = None) -> None:
    """The tap's catalog, discovered once, for Meltano's ``catalog`` extra.

    Given a catalog (``TAP_SPINVOICES__CATALOG``), Meltano skips the discovery run each
    account's ``meltano run`` would start (a second tap process each) and applies no select
    rule: ``selected`` names the streams to mark selected (default: all, as meltano.yml).
    """
    config = path.with_name("tap-config.json")
    config.write_text(json.dumps(ConfigBuilder(api_url).build()))
    proc = subprocess.run(
        [str(PLUGINS["tap-spinvoices"]), "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    catalog = json.loads(proc.stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = (
                    selected is None or stream["tap_stream_id"] in selected
                )
    path.write_text(json.dumps(catalog))
