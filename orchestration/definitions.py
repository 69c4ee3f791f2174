"""Dagster definitions: one step per selling-partner account, N at a time, isolated.

    .venv-dagster/bin/dagster job execute -m orchestration.definitions -j sync_all_accounts

``sync_all_accounts`` has one op per account of the account list (accounts.py), with no
dependencies between them: each runs ``meltano run --state-id-suffix=<account>`` in its own
process. The executor decides where: by default Dagster's multiprocess executor on this
machine, ``max_concurrent`` (from the account list) at a time. ``SPINVOICES_EXECUTOR=k8s``
runs each account's step as its own Kubernetes Job (dagster-k8s ``k8s_job_executor``) and
``celery`` sends them to Celery workers (dagster-celery ``celery_executor``): the same ops,
spread over machines. A failing account (a revoked refresh token, ``invalid_grant``) fails its
own step with one line and leaves the other steps and its own STATE alone: Meltano saves a
STATE only from what the loader committed.

``sync_<account_id>`` jobs run one account alone (a retry of a failed account).
"""

# No "from __future__ import annotations": Dagster reads the op's context annotation.
import os
import re

from dagster import (
    Definitions,
    ExecutorDefinition,
    Failure,
    In,
    JobDefinition,
    Nothing,
    OpDefinition,
    OpExecutionContext,
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
    prepare_database,
    run_account,
)

EXECUTOR_ENV = "SPINVOICES_EXECUTOR"


def op_name(account: Account) -> str:
    """A Dagster op name for an account id ('.' and '-' are not allowed in names)."""
    return "sync_" + re.sub(r"[^A-Za-z0-9_]", "_", account.account_id)


def account_op(plan: Plan, account: Account) -> OpDefinition:
    """The op that runs one account's Meltano pipeline and fails alone, with one line."""

    @op(
        name=op_name(account),
        ins={"database_ready": In(Nothing)},
        tags={"account_id": account.account_id},
        description=f"meltano run --state-id-suffix={account.account_id} for {account.account_id}",
    )
    def sync_account(context: OpExecutionContext) -> None:
        context.log.info("account %s: starting", account.account_id)
        try:
            result = run_account(plan, account)
        except AccountsFileError as exc:  # e.g. its refresh-token variable is not set
            raise Failure(description=str(exc)) from None
        if not result.ok:
            # Failure, not an exception with a traceback: Dagster shows this one line.
            raise Failure(description=result.summary())
        context.log.info("account %s: done [log: %s]", account.account_id, result.log_file)

    return sync_account


def prepare_op(plan: Plan) -> OpDefinition:
    """Migrate Meltano's system database once, so the accounts' first runs do not race."""

    @op(name="prepare_meltano_database")
    def prepare_meltano_database(context: OpExecutionContext) -> None:
        prepare_database(plan)
        context.log.info("Meltano's system database is ready")

    return prepare_meltano_database


def executor(plan: Plan) -> ExecutorDefinition:
    """Where the account steps run: this machine (default), Kubernetes Jobs or Celery."""
    kind = os.environ.get(EXECUTOR_ENV, "multiprocess")
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor  # noqa: PLC0415 - optional, scale-out only

        return k8s_job_executor.configured({"max_concurrent": plan.max_concurrent})
    if kind == "celery":
        from dagster_celery import celery_executor  # noqa: PLC0415 - optional, scale-out only

        return celery_executor
    if kind != "multiprocess":
        msg = f"{EXECUTOR_ENV}={kind!r}: use multiprocess (default), k8s or celery"
        raise ValueError(msg)
    return multiprocess_executor.configured({"max_concurrent": plan.max_concurrent})


def build_jobs(plan: Plan) -> list[JobDefinition]:
    """sync_all_accounts (every account, side by side) and sync_<account> (one alone)."""
    ops = [account_op(plan, account) for account in plan.accounts]
    prepare = prepare_op(plan)
    chosen = executor(plan)

    @job(name="sync_all_accounts", executor_def=chosen, tags={"spinvoices": "accounts"})
    def sync_all_accounts() -> None:
        ready = prepare()
        for account_step in ops:
            account_step(ready)

    return [sync_all_accounts, *(single_account_job(step, prepare, chosen) for step in ops)]


def single_account_job(
    step: OpDefinition, prepare: OpDefinition, chosen: ExecutorDefinition
) -> JobDefinition:
    """A job running one account's op alone (named like the op: sync_<account_id>)."""

    @job(name=step.name, executor_def=chosen)
    def single() -> None:
        step(prepare())

    return single


defs = Definitions(jobs=build_jobs(load_plan(accounts_file())))
