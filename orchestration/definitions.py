"""Dagster definitions: one step per selling-partner account, a nightly schedule, one asset.

    .venv-dagster/bin/dg launch --job sync_all_accounts -m orchestration.definitions

``sync_all_accounts`` has one op per account of the account list (accounts.py), with no
dependencies between them: each runs ``meltano run --state-id-suffix=<account>`` in its own
process (meltano_run.py). The executor decides where: by default Dagster's multiprocess
executor on this machine, ``max_concurrent`` (from the account list) at a time;
``SPINVOICES_EXECUTOR=celery`` sends the steps to Celery workers (celery_executor.py) and
``k8s`` runs each as a Kubernetes Job (dagster-k8s ``k8s_job_executor``). A failing account
(a revoked refresh token, ``invalid_grant``) fails its own step with one line and leaves the
other steps and its own STATE alone: Meltano saves a STATE only from what the loader
committed. A step whose process or Celery worker died is run once more (RetryPolicy), from
the account's STATE.

Each account is a partition of the asset ``account_invoices``: every run of an account
records its outcome there (an observation with its status; on success a materialization
with the rows per stream and the bookmark reached), so Dagster shows each account's last
run, status, rows and bookmark. ``only_<account_id>`` jobs run one account alone (a retry).
The schedule ``sync_all_accounts_nightly`` runs every account at the account list's
``schedule.cron`` (default 02:00 UTC every day) when Dagster's daemon runs.
"""

# No "from __future__ import annotations": Dagster reads the op's context annotation.
import os
import re
import socket
from typing import Any

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetSpec,
    DefaultScheduleStatus,
    Definitions,
    ExecutorDefinition,
    Failure,
    In,
    JobDefinition,
    Nothing,
    OpDefinition,
    OpExecutionContext,
    RetryPolicy,
    ScheduleDefinition,
    StaticPartitionsDefinition,
    job,
    multiprocess_executor,
    op,
)

from orchestration.accounts import (
    Account,
    AccountsFileError,
    Plan,
    accounts_file,
    load_plan,
)
from orchestration.meltano_run import RunResult, prepare_database, run_account

EXECUTOR_ENV = "SPINVOICES_EXECUTOR"
ASSET_KEY = AssetKey("account_invoices")
JOB_NAME = "sync_all_accounts"
SCHEDULE_NAME = "sync_all_accounts_nightly"
# One more try for a step whose process or worker died; an account's own failure (Failure
# with allow_retries=False) is final: running it again would fail the same way.
LOST_STEP_RETRY = RetryPolicy(max_retries=1)


def _dagster_name(account: Account) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", account.account_id)  # no '.' or '-' in Dagster names


def op_name(account: Account) -> str:
    """The account's op (and step) in every job: sync_<account_id>."""
    return "sync_" + _dagster_name(account)


def single_job_name(account: Account) -> str:
    """The job that runs the account alone: only_<account_id>.

    Not sync_<account_id>: a job's graph takes the job's name, and Dagster refuses two
    definitions of one name (the op and the job) once it loads every job, as its daemon and
    UI do.
    """
    return "only_" + _dagster_name(account)


def check_names(plan: Plan) -> None:
    """Refuse labels whose Dagster names would clash (V-1 and V_1; a label all_accounts)."""
    names = [op_name(a) for a in plan.accounts]
    clashes = sorted({n for n in names if names.count(n) > 1 or n == JOB_NAME})
    if clashes:
        ids = sorted(a.account_id for a in plan.accounts if op_name(a) in clashes)
        msg = (
            f"account list: {', '.join(ids)} would share the Dagster step name(s) "
            f"{', '.join(clashes)} ('.' and '-' become '_'): rename one"
        )
        raise AccountsFileError(msg)


def worker_label() -> str:
    """Which machine ran a step: the host name (Celery steps also name their worker)."""
    return socket.gethostname()


def outcome_metadata(result: RunResult) -> dict[str, Any]:
    """What Dagster shows for one account's run: rows per stream, bookmarks, the log."""
    metadata: dict[str, Any] = {
        "status": "succeeded" if result.ok else "failed",
        "rows": sum(result.rows.values()),
        "log": str(result.log_file),
        "host": worker_label(),
    }
    metadata.update({f"rows.{stream}": n for stream, n in result.rows.items()})
    metadata.update({f"bookmark.{stream}": at for stream, at in result.bookmarks.items()})
    if not result.ok:
        metadata["error"] = result.summary()
    return metadata


def account_op(plan: Plan, account: Account) -> OpDefinition:
    """The op that runs one account's Meltano pipeline and fails alone, with one line."""

    @op(
        name=op_name(account),
        ins={"database_ready": In(Nothing)},
        tags={"account_id": account.account_id},
        retry_policy=LOST_STEP_RETRY,
        description=f"meltano run --state-id-suffix={account.account_id} for {account.account_id}",
    )
    def sync_account(context: OpExecutionContext) -> None:
        partition = account.account_id
        context.log.info("account %s: starting on %s", partition, worker_label())
        try:
            # A retry follows an attempt whose process or worker died (Failures are final).
            result = run_account(plan, account, after_lost_attempt=context.retry_number > 0)
        except AccountsFileError as exc:  # e.g. its refresh-token variable is not set
            context.log_event(
                AssetObservation(
                    ASSET_KEY, partition=partition, metadata={"status": "failed", "error": str(exc)}
                )
            )
            raise Failure(description=str(exc), allow_retries=False) from None
        metadata = outcome_metadata(result)
        context.log_event(AssetObservation(ASSET_KEY, partition=partition, metadata=metadata))
        if not result.ok:
            # Failure, not an exception with a traceback: Dagster shows this one line.
            raise Failure(description=result.summary(), allow_retries=False)
        context.log_event(AssetMaterialization(ASSET_KEY, partition=partition, metadata=metadata))
        context.log.info(
            "account %s: done, %s rows [log: %s]", partition, metadata["rows"], result.log_file
        )

    return sync_account


def prepare_op(plan: Plan) -> OpDefinition:
    """Migrate Meltano's system database once, so the accounts' first runs do not race."""

    @op(name="prepare_meltano_database")
    def prepare_meltano_database(context: OpExecutionContext) -> None:
        try:
            prepare_database(plan)
        except RuntimeError as exc:
            raise Failure(description=str(exc), allow_retries=False) from None
        context.log.info("Meltano's system database is ready")

    return prepare_meltano_database


def executor(plan: Plan) -> ExecutorDefinition:
    """Where the account steps run: this machine (default), Celery workers or Kubernetes Jobs."""
    kind = os.environ.get(EXECUTOR_ENV, "multiprocess")
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor  # noqa: PLC0415 - optional, scale-out only

        return k8s_job_executor.configured({"max_concurrent": plan.max_concurrent})
    if kind == "celery":
        from orchestration.celery_executor import celery_executor_for  # noqa: PLC0415

        return celery_executor_for(plan)
    if kind != "multiprocess":
        msg = f"{EXECUTOR_ENV}={kind!r}: use multiprocess (default), celery or k8s"
        raise ValueError(msg)
    return multiprocess_executor.configured({"max_concurrent": plan.max_concurrent})


def build_jobs(plan: Plan) -> list[JobDefinition]:
    """sync_all_accounts (every account, side by side) and only_<account> (one alone)."""
    check_names(plan)
    ops = {account: account_op(plan, account) for account in plan.accounts}
    prepare = prepare_op(plan)
    chosen = executor(plan)

    @job(name=JOB_NAME, executor_def=chosen, tags={"spinvoices": "accounts"})
    def sync_all_accounts() -> None:
        ready = prepare()
        for account_step in ops.values():
            account_step(ready)

    singles = [
        single_account_job(single_job_name(account), step, prepare, chosen)
        for account, step in ops.items()
    ]
    return [sync_all_accounts, *singles]


def single_account_job(
    name: str, step: OpDefinition, prepare: OpDefinition, chosen: ExecutorDefinition
) -> JobDefinition:
    """A job running one account's op alone (only_<account_id>, e.g. to retry it)."""

    @job(name=name, executor_def=chosen, tags={"spinvoices": "accounts"})
    def single() -> None:
        step(prepare())

    return single


def nightly(plan: Plan, all_accounts: JobDefinition) -> ScheduleDefinition:
    """Every account at the account list's schedule (default 02:00 UTC), when the daemon runs."""
    return ScheduleDefinition(
        name=SCHEDULE_NAME,
        job=all_accounts,
        cron_schedule=plan.schedule.cron,
        execution_timezone=plan.schedule.timezone,
        default_status=(
            DefaultScheduleStatus.RUNNING
            if plan.schedule.enabled
            else DefaultScheduleStatus.STOPPED
        ),
        description="sync_all_accounts at the account list's schedule.cron",
    )


def account_invoices(plan: Plan) -> AssetSpec:
    """The loaded invoices of every account, one partition per account_id."""
    return AssetSpec(
        ASSET_KEY,
        description=(
            "Each account's invoices in the loader's tables (one partition per account_id): "
            "the outcome of its last run, its rows per stream and the bookmark reached."
        ),
        partitions_def=StaticPartitionsDefinition([a.account_id for a in plan.accounts]),
        kinds={"meltano"},
    )


def build_definitions(plan: Plan) -> Definitions:
    """Jobs, schedule and asset of one account list."""
    jobs = build_jobs(plan)
    return Definitions(
        jobs=jobs, schedules=[nightly(plan, jobs[0])], assets=[account_invoices(plan)]
    )


defs = build_definitions(load_plan(accounts_file()))
