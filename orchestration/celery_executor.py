"""dagster-celery's executor, with the broker from the environment and lost workers noticed.

dagster-celery's own loop (``core_celery_execution_loop``) submits each step as a Celery task
and polls its result; a worker that dies while running a step leaves that result pending
forever, and the run with it. Here each submitted task is watched: once it runs (Celery's
STARTED state names the worker), that worker is pinged, and when it stops answering for
``SPINVOICES_CELERY_WORKER_LOST_AFTER`` seconds (default 60) the step gets what Dagster's
multiprocess executor gives a step whose process crashed: an engine event saying so, then a
step failure, or a retry when the op's RetryPolicy allows one (the account ops allow one), on
whichever worker takes the new task. A task that fails in its worker (Celery reports an
exception instead of Dagster events) is failed the same way, step by step, instead of ending
the whole run.
"""

# No "from __future__ import annotations": Dagster reads the executor function's annotation.
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.result import AsyncResult
from dagster import (
    DagsterEvent,
    DagsterInstance,
    ExecutorDefinition,
    Field,
    InitExecutorContext,
    Noneable,
    Permissive,
    StringSource,
    executor,
    multiple_process_executor_requirements,
)
from dagster._core.events import EngineEventData
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.plan.state import KnownExecutionState
from dagster._core.execution.plan.step import ExecutionStep
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._serdes import serialize_value
from dagster._utils.error import SerializableErrorInfo, serializable_error_info_from_exc_info
from dagster_celery.core_execution_loop import core_celery_execution_loop
from dagster_celery.executor import CeleryExecutor, _submit_task
from dagster_celery.make_app import make_app

from orchestration.accounts import Plan
from orchestration.celery_settings import (
    WORKER_SETTINGS,
    CeleryEndpoints,
    CelerySettingsError,
    WorkerWatch,
    endpoints,
)

PING_TIMEOUT = 2.0  # seconds a ping waits for the workers' answers
BROKER_CONNECT_TIMEOUT = 10.0

# dagster-celery's executor config, without its silent defaults (amqp://guest@localhost and
# rpc://): a broker or backend left out comes from the environment or the account list.
CONFIG_SCHEMA = {
    "broker": Field(Noneable(StringSource), is_required=False),
    "backend": Field(Noneable(StringSource), is_required=False),
    "include": Field([str], is_required=False),
    "config_source": Field(Noneable(Permissive()), is_required=False),
    "retries": get_retries_config(),
}


class BrokerUnreachableError(ConnectionError):
    """The Celery broker does not answer; the message names it and the fix."""


def app_args(
    found: CeleryEndpoints, config_source: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Celery app's arguments, as dagster-celery builds them, with WORKER_SETTINGS."""
    settings = {**WORKER_SETTINGS, **(config_source or {})}
    args: dict[str, Any] = CeleryExecutor.for_cli(
        broker=found.broker, backend=found.backend, config_source=settings
    ).app_args()
    return args


def check_broker(app: Celery, found: CeleryEndpoints) -> None:
    """Connect to the broker once, or raise one line naming it and the fix."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_CONNECT_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any transport error means the same to the user
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.replace(found.broker, found.shown())
        raise BrokerUnreachableError(
            f"Celery broker {found.shown()} does not answer ({reason}): start it (Redis: "
            "redis-server) or fix SPINVOICES_CELERY_BROKER"
        ) from None


def check_shared_state(instance: DagsterInstance, env: Mapping[str, str]) -> None:
    """Refuse state that workers on other machines could not share, with one line each."""
    storage = type(instance.run_storage).__name__
    if instance.is_ephemeral or "Sqlite" in storage:
        raise CelerySettingsError(
            "SPINVOICES_EXECUTOR=celery needs Dagster's runs and events in PostgreSQL, where "
            "every worker writes them: set DAGSTER_HOME to a folder holding a dagster.yaml like "
            "orchestration/dagster.yaml"
        )
    uri = env.get("MELTANO_DATABASE_URI", "")
    if not uri.startswith("postgresql"):
        raise CelerySettingsError(
            "SPINVOICES_EXECUTOR=celery needs Meltano's system database (every account's "
            "STATE) in PostgreSQL, where every worker reads it: set MELTANO_DATABASE_URI="
            "postgresql+psycopg://<user>:<password>@<host>:5432/<database>"
        )


def ping_workers(app: Celery, names: list[str]) -> list[str]:
    """The workers among ``names`` that answer a ping within PING_TIMEOUT."""
    replies = app.control.ping(destination=names, timeout=PING_TIMEOUT) or []
    return [name for reply in replies for name in reply]


class WatchedResult:
    """A step's Celery result that also turns ready when its worker is lost.

    core_celery_execution_loop calls ``ready()``, then ``get()`` for the step's serialized
    Dagster events, and ``revoke()`` when the run is interrupted.
    """

    def __init__(
        self,
        result: AsyncResult,
        watch: WorkerWatch,
        failure_events: Callable[[str, SerializableErrorInfo | None], list[str]],
    ) -> None:
        """Watch ``result``; ``failure_events(why, error)`` fails or retries the step."""
        self._result = result
        self._watch = watch
        self._failure_events = failure_events
        self._lost: str | None = None

    def ready(self) -> bool:
        """The task finished, or the worker running it stopped answering."""
        if self._lost is not None or self._result.ready():
            return True
        info = self._result.info if self._result.state == "STARTED" else None
        worker = info.get("hostname") if isinstance(info, dict) else None
        if isinstance(worker, str) and self._watch.is_lost(worker):
            self._watch.forget(worker)
            self._lost = worker
            # If it only lost its broker and comes back, it must not run the step too.
            self._result.revoke(terminate=True, signal="SIGKILL")
            return True
        return False

    def get(self) -> list[str]:
        """The step's serialized events; for a lost worker or a task error, a failure."""
        if self._lost is not None:
            why = (
                f"Celery worker {self._lost} stopped answering while it ran this step (no "
                f"answer to pings for {self._watch.lost_after:g} s): the step is lost; "
                "the account resumes from its STATE when it runs again"
            )
            return self._failure_events(why, None)
        try:
            events: list[str] = self._result.get()
        except Exception:  # noqa: BLE001 - Celery re-raises whatever the task raised
            error = serializable_error_info_from_exc_info(sys.exc_info())
            why = f"the Celery task of this step failed: {error.message.strip()}"
            return self._failure_events(why, error)
        return events

    def revoke(self) -> None:
        """Revoke the task (the run is being interrupted)."""
        self._result.revoke()


@dataclass(frozen=True)
class _Submitted:
    """What a lost step's failure needs: the run's context, the step, the state it ran with."""

    executor: CeleryExecutor
    plan_context: PlanOrchestrationContext
    step: ExecutionStep
    known_state: KnownExecutionState

    def failure_events(self, why: str, error: SerializableErrorInfo | None) -> list[str]:
        """An engine event saying why, then the step's failure or retry, as Dagster decides.

        The same pair Dagster's multiprocess executor emits for a step whose process crashed.
        """
        step_context = self.plan_context.for_step(self.step)
        error = error or SerializableErrorInfo(message=why, stack=[], cls_name="CeleryWorkerLost")
        said = DagsterEvent.engine_event(step_context, why, EngineEventData.engine_error(error))
        outcome = self.executor.log_failure_or_retry_event_after_error(
            step_context, error, self.known_state
        )
        return [serialize_value(said), serialize_value(outcome)]


class WatchedCeleryExecutor(CeleryExecutor):
    """CeleryExecutor whose steps fail (or retry) when their worker is lost."""

    def __init__(
        self,
        found: CeleryEndpoints,
        retries: RetryMode,
        include: list[str] | None = None,
        config_source: Mapping[str, Any] | None = None,
    ) -> None:
        """Use ``found``'s broker and backend, WORKER_SETTINGS under ``config_source``."""
        super().__init__(
            retries=retries,
            broker=found.broker,
            backend=found.backend,
            include=include,
            config_source={**WORKER_SETTINGS, **(config_source or {})},
        )
        self.found = found

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        """Check the broker, then run dagster-celery's loop with watched results."""
        app = make_app(self.app_args())
        check_broker(app, self.found)
        watch = WorkerWatch(
            ping=lambda names: ping_workers(app, names), lost_after=self.found.lost_after
        )

        def submit(  # noqa: PLR0913, PLR0917 - the signature the loop calls
            loop_app: Celery,
            context: PlanOrchestrationContext,
            step: ExecutionStep,
            queue: str,
            priority: int,
            known_state: KnownExecutionState,
        ) -> WatchedResult:
            result = _submit_task(loop_app, context, step, queue, priority, known_state)
            submitted = _Submitted(self, context, step, known_state)
            return WatchedResult(result, watch, submitted.failure_events)

        yield from core_celery_execution_loop(plan_context, execution_plan, submit)


def celery_executor_for(plan: Plan) -> ExecutorDefinition:
    """The executor of SPINVOICES_EXECUTOR=celery: broker from run config, env or the list."""

    @executor(
        name="celery",
        config_schema=CONFIG_SCHEMA,
        requirements=multiple_process_executor_requirements(),
    )
    def spinvoices_celery_executor(init_context: InitExecutorContext) -> WatchedCeleryExecutor:
        config = init_context.executor_config
        found = endpoints(plan, os.environ, config)
        check_shared_state(init_context.instance, os.environ)
        return WatchedCeleryExecutor(
            found,
            retries=RetryMode.from_config(config["retries"]),
            include=config.get("include"),
            config_source=config.get("config_source"),
        )

    return spinvoices_celery_executor
