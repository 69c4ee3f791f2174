"""Many accounts across two Celery workers, as on two machines, and one of them killed.

Setup: Redis (the broker) and PostgreSQL (Dagster's instance, Meltano's system database with
every account's STATE, the warehouse) on loopback ports; the emulator playing six selling
partners; an account list of those six plus one whose refresh token was revoked; two Celery
workers, each with its own folder and process group (tests/e2e/celery_workers.py). The runs
are the README's: ``dg launch --job sync_all_accounts`` with ``SPINVOICES_EXECUTOR=celery``.

Run 1 loads every account from START to FIRST_END. Run 2 (workers restarted with the later
end date, as the next night's) goes on to SECOND_END, and one worker is SIGKILLed with its
whole process group while it runs an account: the emulator's request gate holds that
account's request at a fixed point of its sync, so the kill lands mid-account on any
machine. Only customer_invoices is selected (the other streams are loaded by
test_accounts.py): the point here is where steps run and what survives a dead worker. For
the same reason the tap's catalog is discovered once and handed to Meltano (its ``catalog``
extra) instead of being discovered again by each of the 16 account runs.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from spapi_emulator import numbered_partners
from tap_spinvoices.isotime import parse_datetime
from tests.builders import ConfigBuilder
from tests.e2e.celery_workers import CeleryWorker, WorkerUnavailableError, start_worker
from tests.e2e.meltano_project import REPO, clean_env, tail
from tests.e2e.orchestrator import (
    discover_catalog,
    launch,
    report,
    require_dagster,
    run_id,
    start_launch,
)
from tests.e2e.pgserver import free_port
from tests.e2e.redisserver import RedisUnavailableError, start_redis
from tests.e2e.streams import start_emulator
from tests.e2e.warehouse import contents, expected, loaded, touched

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from spapi_emulator import EmulatorServer
    from tests.e2e.pgserver import PostgresServer
    from tests.e2e.redisserver import RedisServer

SCHEMA = "accounts_celery"
START, FIRST_END, SECOND_END = (
    "2024-01-01T00:00:00Z",
    "2024-01-03T00:00:00Z",
    "2024-01-05T00:00:00Z",
)
PARTNERS = numbered_partners(5, seed=7)  # SP2 ... SP6
GOOD = {f"V{k}": f"SP{k}" for k in range(1, 7)}  # account_id -> the emulator's partner
REVOKED = "BAD"
# The account whose worker is killed: the last one queued, so the run loses a worker's
# capacity late; not SP1's, whose gate also counts every account's LWA token calls.
VICTIM = "V6"
# The victim's SP-API requests let through before the gate holds the next one: its
# restricted data token and the first page of customer invoices.
VICTIM_REQUESTS_BEFORE_KILL = 2
WORKER_CONCURRENCY = 2
LOST_AFTER_SECONDS = 10  # SPINVOICES_CELERY_WORKER_LOST_AFTER for these runs
WAIT_TIMEOUT = 600.0  # bounds a hang only


@dataclass
class CeleryStack:
    """The servers, the account list, the environment and the two workers."""

    emulator: EmulatorServer
    postgres: PostgresServer
    redis: RedisServer
    root: Path
    workers: list[CeleryWorker] = field(default_factory=list)

    def env(self, end: str) -> dict[str, str]:
        """What the orchestrator and every worker share (each worker adds its own folder)."""
        shared = ConfigBuilder(self.emulator.url).with_range(START, end).without("refresh_token")
        tokens = {p.selling_partner_id: p.refresh_token for p in PARTNERS}
        tokens["SP1"] = self.emulator.config.refresh_token
        host = f"spinvoices@127.0.0.1:{self.postgres.port}"
        target = self.postgres.target_config(default_target_schema=SCHEMA)
        return clean_env(
            SPINVOICES_EXECUTOR="celery",
            SPINVOICES_ACCOUNTS_FILE=str(self.root / "accounts.yml"),
            SPINVOICES_CELERY_BROKER=self.redis.url,
            SPINVOICES_CELERY_WORKER_LOST_AFTER=str(LOST_AFTER_SECONDS),
            SPINVOICES_DAGSTER_POSTGRES_URL=f"postgresql://{host}/dagster",
            MELTANO_DATABASE_URI=f"postgresql+psycopg://{host}/meltano",
            DAGSTER_HOME=str(self.root / "dagster"),
            TAP_SPINVOICES__CATALOG=str(self.root / "catalog.json"),
            **{f"RT_{account}": tokens[partner] for account, partner in GOOD.items()},
            **{f"RT_{REVOKED}": "Atzr|revoked-by-the-vendor"},
            **{f"TAP_SPINVOICES_{k.upper()}": str(v) for k, v in shared.build().items()},
            **{f"TARGET_POSTGRES_{k.upper()}": str(v) for k, v in target.items()},
        )

    def start_workers(self, end: str) -> None:
        """Two workers, w1 and w2, with the environment of a run ending at ``end``."""
        self.stop_workers()
        env = self.env(end)
        try:
            self.workers = [
                start_worker(name, env, self.root / "workers", WORKER_CONCURRENCY)
                for name in ("w1", "w2")
            ]
        except WorkerUnavailableError as exc:
            pytest.fail(str(exc), pytrace=False)

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.kill()
        self.workers = []

    def account_log(self, worker: CeleryWorker, account: str) -> Path:
        """Where run_account writes the account's log on that worker (before Meltano starts)."""
        return worker.folder / "output" / "accounts" / f"{account}.log"

    def running(self, account: str) -> CeleryWorker:
        """The worker whose folder holds the account's log (those of earlier runs removed)."""
        [worker] = [w for w in self.workers if self.account_log(w, account).exists()]
        return worker


def write_accounts_file(path: Path) -> None:
    accounts = [{"account_id": a, "refresh_token_env": f"RT_{a}"} for a in [*GOOD, REVOKED]]
    plan = {"meltano": {"environment": "emulator"}, "accounts": accounts}
    path.write_text(json.dumps(plan))  # JSON is YAML


@pytest.fixture(scope="module")
def stack(
    postgres: PostgresServer, meltano_executable: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryStack]:
    del meltano_executable  # the plugins come from `meltano install`
    require_dagster()
    try:
        redis = start_redis()
    except RedisUnavailableError as exc:
        pytest.fail(f"Redis could not start: {exc}", pytrace=False)
    emulator = start_emulator(selling_partners=PARTNERS)
    root = tmp_path_factory.mktemp("celery")
    postgres.create_database("dagster")
    postgres.create_database("meltano")
    (root / "dagster").mkdir()
    shutil.copy(REPO / "orchestration" / "dagster.yaml", root / "dagster" / "dagster.yaml")
    write_accounts_file(root / "accounts.yml")
    discover_catalog(emulator.url, root / "catalog.json", selected={"customer_invoices"})
    stack = CeleryStack(emulator, postgres, redis, root)
    yield stack
    stack.stop_workers()
    for partner in emulator.state.partners.values():
        partner.gate.open()
    emulator.close()
    redis.stop()


@dataclass(frozen=True)
class FirstRun:
    output: str
    run_id: str
    accounts: dict[str, dict[str, Any]]
    summary: str
    rows: dict[tuple[str, str], tuple[str, Any]]


@pytest.fixture(scope="module")
def first_run(stack: CeleryStack) -> FirstRun:
    stack.start_workers(FIRST_END)
    env = stack.env(FIRST_END)
    output = launch(env, "sync_all_accounts", stack.root / "run1.log")
    run = run_id(output)
    accounts, summary = report(env, run)
    return FirstRun(output, run, accounts, summary, loaded(stack.postgres, SCHEMA))


def test_every_good_account_is_loaded_as_the_emulator_holds_it(
    stack: CeleryStack, first_run: FirstRun
):
    want = expected(stack.emulator, GOOD, START, FIRST_END)
    assert want
    assert contents(first_run.rows) == want, tail(first_run.output)


def test_the_revoked_account_fails_alone_with_one_line(first_run: FirstRun):
    assert f"Steps failed: ['sync_{REVOKED}']" in first_run.output, tail(first_run.output)
    failed = first_run.accounts[REVOKED]
    assert failed["status"] == "failed"
    assert failed["error"].startswith(
        f"account {REVOKED}: meltano run failed (exit 1): tap-spinvoices: LWA: refresh_token "
        "was rejected (invalid_grant)"
    )
    assert "\n" not in failed["error"]
    assert "Atzr|revoked" not in first_run.output
    assert {a for a, s in first_run.accounts.items() if s["status"] != "succeeded"} == {REVOKED}


def test_both_workers_ran_accounts(stack: CeleryStack, first_run: FirstRun):
    ran = {worker for account in first_run.accounts.values() for worker in account["workers"]}
    assert ran == {worker.node for worker in stack.workers}, first_run.accounts
    assert first_run.summary.startswith("accounts=7 succeeded=6 failed=1 workers=2 ")


def test_dagster_shows_each_accounts_run_status_rows_and_bookmark(
    stack: CeleryStack, first_run: FirstRun
):
    want = expected(stack.emulator, GOOD, START, FIRST_END)
    for account in GOOD:
        shown = first_run.accounts[account]
        assert shown["run_id"] == first_run.run_id
        assert shown["status"] == "succeeded"
        assert shown["attempts"] == 1
        assert shown["last_success_run_id"] == first_run.run_id
        assert shown["rows"] == {"customer_invoices": sum(1 for _, a in want if a == account)}
        assert shown["bookmarks"] == {"customer_invoices": parse_datetime(FIRST_END).isoformat()}
    assert first_run.accounts[REVOKED]["bookmarks"] == {}
    rows = sum(sum(a["rows"].values()) for a in first_run.accounts.values())
    assert first_run.summary.endswith(f" rows={rows}")


def wait_for(condition: Any, what: str, *watched: Any) -> None:
    """Wait until ``condition()``; fail naming ``what`` if a watched process ends first."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not condition():
        ended = [p for p in watched if p.poll() is not None]
        assert not ended, f"ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_worker_killed_mid_account_loses_nothing_and_doubles_nothing(
    stack: CeleryStack, first_run: FirstRun
):
    stack.start_workers(SECOND_END)
    for worker in stack.workers:
        stack.account_log(worker, VICTIM).unlink(missing_ok=True)  # run 1's
    env = stack.env(SECOND_END)
    gate = stack.emulator.state.partners[GOOD[VICTIM]].gate
    gate.hold_after(VICTIM_REQUESTS_BEFORE_KILL)
    log = stack.root / "run2.log"
    with log.open("w") as output:
        run = start_launch(env, "sync_all_accounts", output)
        try:
            wait_for(lambda: gate.held() > 0, f"{VICTIM}'s request at the gate", run)
            # Held mid-sync, on the worker whose folder has its log (Dagster agrees, below).
            victim_worker = stack.running(VICTIM)
            node = victim_worker.node
            victim_worker.kill()
            wait_for(lambda: not victim_worker.alive_processes(), f"{node}'s processes to end")
            gate.open()
            run.wait(timeout=WAIT_TIMEOUT)
        finally:
            gate.open()
            if run.poll() is None:
                run.kill()
    text = log.read_text()
    accounts, _ = report(env, run_id(text))

    # The step was failed by the executor once its worker stopped answering, then retried
    # on the other worker, which resumed the account from its STATE.
    assert f"Celery worker {node} stopped answering while it ran this step" in text, tail(text)
    survivor = next(w.node for w in stack.workers if w.node != node)
    assert accounts[VICTIM]["status"] == "succeeded", accounts[VICTIM]
    assert accounts[VICTIM]["attempts"] == 2
    assert accounts[VICTIM]["workers"] == [node, survivor]
    # Every other account completed; only the revoked one failed.
    assert {a for a, s in accounts.items() if s["status"] != "succeeded"} == {REVOKED}
    assert f"Steps failed: ['sync_{REVOKED}']" in text

    # Nothing lost, nothing doubled (loaded() asserts each key once), and each account read
    # on from its own bookmark: the second run wrote only what is after FIRST_END.
    rows = loaded(stack.postgres, SCHEMA)
    assert contents(rows) == expected(stack.emulator, GOOD, START, SECOND_END)
    new = set(expected(stack.emulator, GOOD, FIRST_END, SECOND_END))
    assert new
    assert touched(first_run.rows, rows) == new
    for account in GOOD:
        assert accounts[account]["bookmarks"] == {
            "customer_invoices": parse_datetime(SECOND_END).isoformat()
        }


def test_an_unreachable_broker_is_one_line_naming_it_and_the_fix(stack: CeleryStack):
    env = stack.env(FIRST_END)
    env["SPINVOICES_CELERY_BROKER"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing there
    output = launch(env, "sync_all_accounts", stack.root / "no-broker.log")
    line = (
        f"Celery broker {env['SPINVOICES_CELERY_BROKER']} does not answer (Error 111 "
        "connecting to 127.0.0.1"
    )
    assert line in output, tail(output)
    assert "start it (Redis: redis-server) or fix SPINVOICES_CELERY_BROKER" in output


def test_meltanos_state_in_sqlite_is_refused_under_celery_with_one_line(stack: CeleryStack):
    env = stack.env(FIRST_END)
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{stack.root / 'meltano.db'}"
    output = launch(env, "sync_all_accounts", stack.root / "sqlite-state.log")
    assert (
        "SPINVOICES_EXECUTOR=celery needs Meltano's system database (every account's STATE) in "
        "PostgreSQL, where every worker reads it: set MELTANO_DATABASE_URI=postgresql+psycopg://"
    ) in output, tail(output)
    assert not (stack.root / "meltano.db").exists()
