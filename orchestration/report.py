"""Each account's status, rows and bookmark in a run, read from Dagster's instance.

Run it as::

    DAGSTER_HOME=... .venv-dagster/bin/python -m orchestration.report [--run-id ID] [--json]

What the Dagster UI shows on the asset ``account_invoices`` (one partition per account) and
on the run's steps, as text: for the run (by default the newest ``sync_all_accounts`` run),
each account's status, how many times its step started, which workers ran it, the rows per
stream and the bookmarks of its last successful run, and the failure line. The last line
sums it up: ``accounts=N succeeded=N failed=N workers=N rows=N``. ``workers`` counts the
Celery workers that ran account steps (by name), or the machines for the other executors.
"""

# No "from __future__ import annotations": kept like the other Dagster modules here.
import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from dagster import (
    AssetRecordsFilter,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    EventLogEntry,
    RunsFilter,
)

from orchestration.accounts import Account, Plan, accounts_file, load_plan
from orchestration.definitions import ASSET_KEY, JOB_NAME, op_name

CELERY_WORKER = "Celery worker"  # dagster-celery's engine event names the worker so


@dataclass
class AccountStatus:
    """One account in one run, and its last successful load."""

    account_id: str
    run_id: str
    status: str  # succeeded, failed, retried, running, not run
    attempts: int = 0
    workers: list[str] = field(default_factory=list)
    error: str = ""
    rows: dict[str, int] = field(default_factory=dict)  # of this run, when it succeeded
    # Of the account's newest materialization (its last successful run, in any run).
    bookmarks: dict[str, str] = field(default_factory=dict)
    last_success_run_id: str = ""


def _value(metadata: Mapping[str, object], key: str) -> object:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def _split(metadata: Mapping[str, object], prefix: str) -> dict[str, object]:
    return {
        key.removeprefix(prefix): _value(metadata, key)
        for key in sorted(metadata)
        if key.startswith(prefix)
    }


def _started(status: AccountStatus, _event: DagsterEvent) -> None:
    status.attempts += 1
    status.status = "running"


def _succeeded(status: AccountStatus, _event: DagsterEvent) -> None:
    status.status = "succeeded"


def _retried(status: AccountStatus, _event: DagsterEvent) -> None:
    status.status = "retried"


def _failed(status: AccountStatus, event: DagsterEvent) -> None:
    status.status = "failed"
    failure = event.step_failure_data
    user = failure.user_failure_data
    status.error = (user.description if user else None) or failure.error.message.strip()


def _celery_worker(status: AccountStatus, event: DagsterEvent) -> None:
    worker = _value(event.engine_event_data.metadata, CELERY_WORKER)
    if worker and str(worker) not in status.workers:
        status.workers.append(str(worker))


def _observed(status: AccountStatus, event: DagsterEvent) -> None:
    host = _value(event.event_specific_data.asset_observation.metadata, "host")
    if host and not status.workers:  # not a Celery step: the machine that ran it
        status.workers.append(str(host))


_STEP_EVENTS: dict[DagsterEventType, Callable[[AccountStatus, DagsterEvent], None]] = {
    DagsterEventType.STEP_START: _started,
    DagsterEventType.STEP_RESTARTED: _started,  # the start of a retry
    DagsterEventType.STEP_SUCCESS: _succeeded,
    DagsterEventType.STEP_UP_FOR_RETRY: _retried,
    DagsterEventType.STEP_FAILURE: _failed,
    DagsterEventType.ENGINE_EVENT: _celery_worker,
    DagsterEventType.ASSET_OBSERVATION: _observed,
}


def _step_statuses(
    plan: Plan, run_id: str, records: Iterable[EventLogEntry]
) -> dict[str, AccountStatus]:
    by_step = {op_name(a): AccountStatus(a.account_id, run_id, "not run") for a in plan.accounts}
    by_partition = {status.account_id: status for status in by_step.values()}
    for record in records:
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            found = by_partition.get(materialization.partition or "")
            if found is not None:
                rows = _split(materialization.metadata, "rows.")
                found.rows = {stream: int(str(n)) for stream, n in rows.items()}
            continue
        status = by_step.get(event.step_key or "")
        handle = _STEP_EVENTS.get(event.event_type)
        if status is not None and handle is not None:
            handle(status, event)
    return by_step


def _last_success(instance: DagsterInstance, account: Account, status: AccountStatus) -> None:
    found = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=ASSET_KEY, asset_partitions=[account.account_id]), limit=1
    ).records
    if found:
        materialization = found[0].event_log_entry.asset_materialization
        status.bookmarks = {
            k: str(v) for k, v in _split(materialization.metadata, "bookmark.").items()
        }
        status.last_success_run_id = found[0].run_id


def account_statuses(
    instance: DagsterInstance, plan: Plan, run_id: str | None = None
) -> list[AccountStatus]:
    """Every account of ``plan`` in the run ``run_id`` (default: the newest sync_all_accounts)."""
    if run_id is None:
        runs = instance.get_runs(RunsFilter(job_name=JOB_NAME), limit=1)
        if not runs:
            return []
        run_id = runs[0].run_id
    kinds = {*_STEP_EVENTS, DagsterEventType.ASSET_MATERIALIZATION}
    statuses = _step_statuses(plan, run_id, instance.all_logs(run_id, of_type=kinds))
    for account in plan.accounts:
        _last_success(instance, account, statuses[op_name(account)])
    return list(statuses.values())


def summary_line(statuses: Sequence[AccountStatus]) -> str:
    """accounts=N succeeded=N failed=N workers=N rows=N (rows loaded in the run)."""
    succeeded = [s for s in statuses if s.status == "succeeded"]
    failed = [s for s in statuses if s.status == "failed"]
    workers = {worker for s in statuses for worker in s.workers}
    rows = sum(sum(s.rows.values()) for s in succeeded)
    return (
        f"accounts={len(statuses)} succeeded={len(succeeded)} failed={len(failed)} "
        f"workers={len(workers)} rows={rows}"
    )


def table(statuses: Sequence[AccountStatus]) -> list[str]:
    """One line per account: status, rows per stream, the earliest bookmark, why it failed."""
    lines = [f"{'account':<12} {'status':<10} {'rows':>7}  bookmark (every stream)  worker"]
    for s in statuses:
        streams = ", ".join(f"{stream} {n}" for stream, n in s.rows.items())
        bookmark = min(s.bookmarks.values()) if s.bookmarks else "-"
        worker = ", ".join(s.workers) or "-"
        line = (
            f"{s.account_id:<12} {s.status:<10} {sum(s.rows.values()):>7}  {bookmark:<24} {worker}"
        )
        lines.append(line + (f"\n{'':<12} {streams}" if streams else ""))
        if s.error:
            lines.append(f"{'':<12} {s.error}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Print each account's status in a run of sync_all_accounts, then the summary line."""
    parser = argparse.ArgumentParser(prog="python -m orchestration.report", description=__doc__)
    parser.add_argument("--run-id", help="a run of sync_all_accounts (default: the newest)")
    parser.add_argument("--json", action="store_true", help="one JSON object per account")
    args = parser.parse_args(argv)
    plan = load_plan(accounts_file())
    with DagsterInstance.get() as instance:
        statuses = account_statuses(instance, plan, args.run_id)
    if not statuses:
        print("no run of sync_all_accounts in this Dagster instance (DAGSTER_HOME)")  # noqa: T201
        return 1
    if args.json:
        for status in statuses:
            print(json.dumps(asdict(status), sort_keys=True))  # noqa: T201
    else:
        print(f"run {statuses[0].run_id}")  # noqa: T201
        print("\n".join(table(statuses)))  # noqa: T201
    print(summary_line(statuses))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
