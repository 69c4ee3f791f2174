"""orchestration/definitions.py as Dagster loads it: jobs, schedule, asset, executor, instance.

Dagster lives in .venv-dagster, so each check runs a short script there (DAGSTER_PROBE)
that loads the definitions as Dagster's daemon and UI do and prints what Dagster's own API
says about them, as JSON.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.meltano_project import REPO, clean_env
from tests.e2e.orchestrator import DAGSTER_BIN, require_dagster

if TYPE_CHECKING:
    from pathlib import Path

DAGSTER_PROBE = """
import json, warnings
warnings.simplefilter("ignore")
from dagster import build_schedule_context
from orchestration.definitions import ASSET_KEY, JOB_NAME, SCHEDULE_NAME, defs

schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
tick = schedule.evaluate_tick(build_schedule_context())
job = defs.resolve_job_def(JOB_NAME)
print(json.dumps({
    "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
    "steps": sorted(node.name for node in job.nodes),
    "executor": job.executor_def.name,
    "schedule": {
        "cron": schedule.cron_schedule,
        "timezone": schedule.execution_timezone,
        "job": schedule.job_name,
        "default_status": schedule.default_status.value,
        "run_requests": [r.job_name or schedule.job_name for r in tick.run_requests],
    },
    "partitions": defs.resolve_assets_def(ASSET_KEY).partitions_def.get_partition_keys(),
}))
"""
INSTANCE_PROBE = """
import json, sys
from dagster._core.instance.config import dagster_instance_config
config, _ = dagster_instance_config(sys.argv[1])
print(json.dumps(sorted(config)))
"""


def probe(tmp_path: Path, plan: dict[str, Any], **env: str) -> dict[str, Any]:
    require_dagster()
    accounts = tmp_path / "accounts.yml"
    accounts.write_text(json.dumps(plan))
    proc = subprocess.run(
        [str(DAGSTER_BIN / "python"), "-c", DAGSTER_PROBE],
        cwd=REPO,
        env=clean_env(SPINVOICES_ACCOUNTS_FILE=str(accounts), **env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


ACCOUNTS = [
    {"account_id": "V1", "refresh_token_env": "RT_V1"},
    {"account_id": "V-2.b", "refresh_token_env": "RT_V2"},
]


def test_every_job_loads_with_one_step_per_account_and_each_account_is_a_partition(tmp_path):
    found = probe(tmp_path, {"accounts": ACCOUNTS})
    assert found["jobs"] == ["only_V1", "only_V_2_b", "sync_all_accounts"]
    assert found["steps"] == ["prepare_meltano_database", "sync_V1", "sync_V_2_b"]
    assert found["partitions"] == ["V1", "V-2.b"]
    assert found["executor"] == "multiprocess"


def test_the_nightly_schedule_runs_every_account_once_a_day_by_default(tmp_path):
    schedule = probe(tmp_path, {"accounts": ACCOUNTS})["schedule"]
    assert schedule == {
        "cron": "0 2 * * *",
        "timezone": "UTC",
        "job": "sync_all_accounts",
        "default_status": "RUNNING",
        "run_requests": ["sync_all_accounts"],
    }


def test_the_schedule_comes_from_the_account_list(tmp_path):
    plan = {
        "accounts": ACCOUNTS,
        "schedule": {"cron": "30 1 * * 1-5", "timezone": "America/Sao_Paulo", "enabled": False},
    }
    schedule = probe(tmp_path, plan)["schedule"]
    assert (schedule["cron"], schedule["timezone"], schedule["default_status"]) == (
        "30 1 * * 1-5",
        "America/Sao_Paulo",
        "STOPPED",
    )


@pytest.mark.parametrize(("executor", "name"), [("celery", "celery"), ("k8s", "k8s")])
def test_the_executor_is_chosen_by_spinvoices_executor(tmp_path, executor, name):
    found = probe(tmp_path, {"accounts": ACCOUNTS}, SPINVOICES_EXECUTOR=executor)
    assert found["executor"] == name


def test_the_documented_dagster_yaml_is_a_valid_instance_config(tmp_path):
    require_dagster()
    (tmp_path / "dagster.yaml").write_text((REPO / "orchestration" / "dagster.yaml").read_text())
    proc = subprocess.run(
        [str(DAGSTER_BIN / "python"), "-c", INSTANCE_PROBE, str(tmp_path)],
        cwd=REPO,
        env=clean_env(SPINVOICES_DAGSTER_POSTGRES_URL="postgresql://u@127.0.0.1:1/dagster"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(json.loads(proc.stdout)) >= {
        "storage",
        "concurrency",
        "run_monitoring",
        "compute_logs",
        "telemetry",
    }


def test_labels_that_would_share_a_step_name_are_refused_with_one_line(tmp_path):
    require_dagster()
    accounts = tmp_path / "accounts.yml"
    clashing = [{"account_id": a, "refresh_token_env": "RT"} for a in ("V-1", "V.1", "V2")]
    accounts.write_text(json.dumps({"accounts": clashing}))
    proc = subprocess.run(
        [str(DAGSTER_BIN / "python"), "-c", "import orchestration.definitions"],
        cwd=REPO,
        env=clean_env(SPINVOICES_ACCOUNTS_FILE=str(accounts)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode != 0
    assert (
        "AccountsFileError: account list: V-1, V.1 would share the Dagster step name(s) sync_V_1"
        in proc.stderr
    )
