"""Three selling partners at once through Dagster, offline (run by scripts/demo-accounts).

The local SP-API emulator plays three selling partners of one app (SP1, SP2, SP3, each with
its own refresh token, data and budgets); the account list names them V1, V2, V3. Then the
README's run command, ``dg launch --job sync_all_accounts``, runs them:

- default (``--executor multiprocess``): Dagster's multiprocess executor on this machine,
  Dagster's and Meltano's state in SQLite, each account's rows as JSON lines
  (target-jsonl) in ``output/demo-accounts/multiprocess/jsonl/<account>/``;
- ``--executor celery``: two Celery workers (each with its own folder), Redis as the broker,
  and a PostgreSQL of the demo's own for Dagster's instance, Meltano's system database and the
  warehouse (target-postgres), as on machines of their own.

Last it prints each account's status and rows as Dagster recorded them
(``python -m orchestration.report``), ending with ``accounts=3 succeeded=3 failed=0
workers=<n> rows=<n>``. Redis and PostgreSQL are the throw-away servers the e2e tests use
(tests/e2e/redisserver.py, pgserver.py): started on free loopback ports, removed at the end.
"""

# ruff: noqa: INP001, T201 - a script, not a package module; it prints for the user

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spapi_emulator import EmulatorConfig, EmulatorServer, numbered_partners  # noqa: E402
from tests.e2e.celery_workers import WorkerUnavailableError, start_worker  # noqa: E402
from tests.e2e.pgserver import (  # noqa: E402
    PostgresServer,
    PostgresUnavailableError,
    find_bin_dir,
    start_server,
)
from tests.e2e.redisserver import RedisUnavailableError, start_redis  # noqa: E402

OUT = REPO / "output" / "demo-accounts"
DAGSTER = REPO / ".venv-dagster" / "bin"
START, END = "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"
ACCOUNTS = {"V1": "SP1", "V2": "SP2", "V3": "SP3"}  # account_id -> the emulator's partner
EMULATOR = {"days": 7, "invoices_per_day": 50, "time_scale": 1000.0}
WORKERS, CONCURRENCY = ("w1", "w2"), 2
RUN_TIMEOUT = 1800  # bounds a hang only


def say(message: str) -> None:
    """A step of the demo, as scripts/demo prints them."""
    print(f"\n==> {message}", flush=True)


def fail(message: str) -> int:
    """One line on stderr; the demo's exit status."""
    print(f"demo-accounts: {message}", file=sys.stderr)
    return 1


def missing_for_celery() -> list[str]:
    """What --executor celery needs and this machine lacks, each with how to install it."""
    missing = []
    if shutil.which("redis-server") is None:
        missing.append("Redis (redis-server): apt-get install -y redis-server")
    try:
        find_bin_dir()
    except PostgresUnavailableError:
        missing.append("PostgreSQL (initdb, pg_ctl): apt-get install -y postgresql")
    return missing


def emulator_env(emulator: EmulatorServer) -> dict[str, str]:
    """The tap's settings every account shares, and each account's refresh-token variable."""
    partners = emulator.state.partners
    env = {
        "TAP_SPINVOICES_API_URL": emulator.url,
        "TAP_SPINVOICES_LWA_TOKEN_URL": f"{emulator.url}/auth/o2/token",
        "TAP_SPINVOICES_LWA_CLIENT_ID": emulator.config.client_id,
        "TAP_SPINVOICES_LWA_CLIENT_SECRET": emulator.config.client_secret,
        "TAP_SPINVOICES_START_DATE": START,
        "TAP_SPINVOICES_END_DATE": END,
    }
    for account, partner in ACCOUNTS.items():
        env[f"SPINVOICES_REFRESH_TOKEN_{account}"] = partners[partner].refresh_token
    return env


def write_accounts_file(folder: Path, loader: str, account_env: dict[str, str]) -> Path:
    """The account list of V1, V2, V3 (folder/accounts.yml); the loader's per-account env."""
    accounts = [
        {"account_id": account, "refresh_token_env": f"SPINVOICES_REFRESH_TOKEN_{account}"}
        for account in ACCOUNTS
    ]
    plan: dict[str, Any] = {
        "meltano": {"environment": "emulator", "loader": loader},
        "log_dir": str(folder / "logs"),
        "accounts": accounts,
        "account_env": account_env,
    }
    path = folder / "accounts.yml"
    path.write_text(json.dumps(plan, indent=2))  # JSON is YAML
    return path


def base_env() -> dict[str, str]:
    """This environment without settings that would leak into the demo's plugins."""
    prefixes = ("TAP_SPINVOICES_", "TARGET_", "MELTANO_", "SPINVOICES_", "DAGSTER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def multiprocess_env(folder: Path) -> dict[str, str]:
    """Dagster and Meltano in SQLite under ``folder``, each account's JSON lines apart."""
    jsonl = folder / "jsonl" / "{account_id}"
    accounts = write_accounts_file(
        folder, "target-jsonl", {"TARGET_JSONL_DESTINATION_PATH": str(jsonl)}
    )
    home = folder / "dagster"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        "SPINVOICES_ACCOUNTS_FILE": str(accounts),
        "DAGSTER_HOME": str(home),
        "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
    }


def celery_env(folder: Path, postgres: PostgresServer, broker: str) -> dict[str, str]:
    """Dagster, Meltano and the warehouse in ``postgres``, the steps sent through ``broker``."""
    accounts = write_accounts_file(folder, "target-postgres", {})
    home = folder / "dagster"
    home.mkdir(parents=True)
    shutil.copy(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    dagster_url = postgres.create_database("dagster").replace("+psycopg", "")
    target = postgres.target_config(default_target_schema="demo_accounts")
    return {
        "SPINVOICES_EXECUTOR": "celery",
        "SPINVOICES_ACCOUNTS_FILE": str(accounts),
        "SPINVOICES_CELERY_BROKER": broker,
        "SPINVOICES_DAGSTER_POSTGRES_URL": dagster_url,
        "DAGSTER_HOME": str(home),
        "MELTANO_DATABASE_URI": postgres.create_database("meltano"),
        **{f"TARGET_POSTGRES_{k.upper()}": str(v) for k, v in target.items()},
    }


def launch(env: dict[str, str], folder: Path) -> None:
    """The README's run command, its output (Dagster's events) to <folder>/dagster-run.log."""
    log = folder / "dagster-run.log"
    command = ["launch", "--job", "sync_all_accounts", "-m", "orchestration.definitions"]
    say(f"dg {' '.join(command)}   (Dagster's log: {log.relative_to(REPO)})")
    with log.open("w") as output:
        subprocess.run(  # noqa: S603 - a fixed command
            [str(DAGSTER / "dg"), *command],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT,
            check=False,
        )


def report(env: dict[str, str]) -> int:
    """Print each account's status and rows as Dagster recorded them; 0 if none failed."""
    say("What Dagster recorded for each account (python -m orchestration.report)")
    proc = subprocess.run(  # noqa: S603 - a fixed command
        [str(DAGSTER / "python"), "-m", "orchestration.report"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(proc.stdout, end="", flush=True)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode != 0 or " failed=0 " not in last:
        print(proc.stderr, end="", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    """Run the three accounts with the chosen executor; 0 when none failed."""
    parser = argparse.ArgumentParser(prog="scripts/demo-accounts", description=__doc__)
    parser.add_argument("--executor", choices=("multiprocess", "celery"), default="multiprocess")
    executor = parser.parse_args().executor
    if executor == "celery" and (missing := missing_for_celery()):
        return fail("--executor celery needs " + "; ".join(missing))
    folder = OUT / executor
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with ExitStack() as cleanup:
        config = EmulatorConfig(**EMULATOR, selling_partners=numbered_partners(2, seed=7))
        emulator = EmulatorServer(config).start()
        cleanup.callback(emulator.close)
        say(f"The SP-API emulator plays 3 selling partners at {emulator.url}")
        env = {**base_env(), **emulator_env(emulator)}
        if executor == "multiprocess":
            env.update(multiprocess_env(folder))
        else:
            try:
                postgres = start_server()
                cleanup.callback(postgres.stop)
                redis = start_redis()
                cleanup.callback(redis.stop)
            except (PostgresUnavailableError, RedisUnavailableError) as exc:
                return fail(str(exc))
            say(f"Redis at {redis.url}, PostgreSQL at 127.0.0.1:{postgres.port}")
            env.update(celery_env(folder, postgres, redis.url))
            for name in WORKERS:
                try:
                    worker = start_worker(name, env, folder / "workers", CONCURRENCY)
                except WorkerUnavailableError as exc:
                    return fail(str(exc))
                cleanup.callback(worker.kill)
                print(f"    Celery worker {worker.node} ready (folder {worker.folder})")
        launch(env, folder)
        return report(env)


if __name__ == "__main__":
    sys.exit(main())
