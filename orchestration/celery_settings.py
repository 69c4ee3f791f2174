"""Where the Celery executor and its workers meet, and how a lost worker is noticed.

Plain Python (no Dagster, no Celery import), shared by the executor (celery_executor.py) and
the workers' app (celery_app.py), so both sides read the same broker and the same settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from orchestration.accounts import Plan

BROKER_ENV: Final = "SPINVOICES_CELERY_BROKER"
BACKEND_ENV: Final = "SPINVOICES_CELERY_BACKEND"
LOST_AFTER_ENV: Final = "SPINVOICES_CELERY_WORKER_LOST_AFTER"
DEFAULT_LOST_AFTER: Final = 60.0
# How many pings fit in the silence that makes a worker lost.
PINGS_PER_LOST_AFTER: Final = 4
_REDIS_SCHEMES: Final = ("redis", "rediss")

# The Celery settings of both sides (the executor publishes, the workers consume). Why each:
WORKER_SETTINGS: Final[dict[str, Any]] = {
    # A worker takes a task only when one of its processes is free (Redis brokers): a
    # worker that dies holds no queued step that would wait for the broker's visibility
    # timeout (an hour) before another worker may take it.
    "worker_disable_prefetch": True,
    "worker_prefetch_multiplier": 1,
    # A running task says which worker runs it (state STARTED, with its hostname): the
    # executor pings that worker and fails (or retries) the step when it stops answering.
    "task_track_started": True,
    # Acknowledged when it starts (Celery's default, stated here because it matters): a
    # dead worker's task is never delivered again behind the executor's back, hours later,
    # after the step was already retried.
    "task_acks_late": False,
}


class CelerySettingsError(ValueError):
    """The Celery executor cannot start; the message names the cause and the fix."""


@dataclass(frozen=True)
class CeleryEndpoints:
    """The broker and result backend the executor and every worker use."""

    broker: str
    backend: str
    lost_after: float = DEFAULT_LOST_AFTER

    def shown(self) -> str:
        """The broker URL without its password, for messages."""
        return redact(self.broker)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    netloc = f"{user}{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def endpoints(
    plan: Plan, env: Mapping[str, str], run_config: Mapping[str, Any] | None = None
) -> CeleryEndpoints:
    """The broker and backend: run config, else the environment, else the account list.

    Dagster's own celery_executor falls back to amqp://guest@localhost without a word when
    none is given; here no broker is an error that says where to set one.
    """
    given = run_config or {}
    broker = given.get("broker") or env.get(BROKER_ENV) or plan.celery.broker
    if not broker:
        raise CelerySettingsError(
            f"SPINVOICES_EXECUTOR=celery needs a broker: set {BROKER_ENV}="
            "redis://<host>:6379/0 (or celery.broker in the account list)"
        )
    scheme = urlsplit(broker).scheme
    backend = given.get("backend") or env.get(BACKEND_ENV) or plan.celery.backend
    if not backend:
        if scheme not in _REDIS_SCHEMES:
            raise CelerySettingsError(
                f"{BROKER_ENV} is {scheme}://: set {BACKEND_ENV} too (a result backend "
                "that keeps task states, e.g. redis:// or db+postgresql://)"
            )
        backend = broker
    return CeleryEndpoints(broker, backend, lost_after(env))


def lost_after(env: Mapping[str, str]) -> float:
    """Seconds a worker running a step may go without answering a ping before it is lost."""
    raw = env.get(LOST_AFTER_ENV)
    if not raw:
        return DEFAULT_LOST_AFTER
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise CelerySettingsError(f"{LOST_AFTER_ENV}={raw!r}: give a number of seconds > 0")
    return seconds


@dataclass
class WorkerWatch:
    """Which Celery workers still answer; one silent for ``lost_after`` seconds is lost.

    A worker counts as heard from when it is first named (it has just started a task), and
    on every ping it answers. Pings go out at most every ``lost_after / 4`` seconds, to every
    worker named so far, in one broadcast.
    """

    ping: Callable[[list[str]], Iterable[str]]
    lost_after: float
    clock: Callable[[], float] = time.monotonic
    _heard: dict[str, float] = field(default_factory=dict)
    _last_ping: float | None = None

    def is_lost(self, worker: str) -> bool:
        """Whether ``worker`` has not answered for longer than ``lost_after`` seconds."""
        now = self.clock()
        self._heard.setdefault(worker, now)
        if (
            self._last_ping is None
            or now - self._last_ping >= self.lost_after / PINGS_PER_LOST_AFTER
        ):
            self._last_ping = now
            for answered in self.ping(sorted(self._heard)):
                if answered in self._heard:
                    self._heard[answered] = self.clock()
        return self.clock() - self._heard[worker] > self.lost_after

    def forget(self, worker: str) -> None:
        """Stop pinging ``worker`` (its steps are done, or it was found lost)."""
        self._heard.pop(worker, None)
