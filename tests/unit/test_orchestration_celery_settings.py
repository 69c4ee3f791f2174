"""Where the Celery executor and its workers meet (orchestration/celery_settings.py)."""

from __future__ import annotations

import pytest

from orchestration.accounts import parse_plan
from orchestration.celery_settings import (
    CelerySettingsError,
    WorkerWatch,
    endpoints,
    lost_after,
    redact,
)

ONE = {"accounts": [{"account_id": "V1", "refresh_token_env": "RT_V1"}]}
IN_FILE = {**ONE, "celery": {"broker": "redis://from-file:6379/0"}}


@pytest.mark.parametrize(
    ("raw", "env", "run_config", "broker"),
    [
        (IN_FILE, {}, None, "redis://from-file:6379/0"),
        (
            IN_FILE,
            {"SPINVOICES_CELERY_BROKER": "redis://from-env:6379/0"},
            None,
            "redis://from-env:6379/0",
        ),
        (
            IN_FILE,
            {"SPINVOICES_CELERY_BROKER": "redis://from-env:6379/0"},
            {"broker": "redis://from-run-config:6379/0"},
            "redis://from-run-config:6379/0",
        ),
    ],
)
def test_the_broker_comes_from_run_config_then_the_environment_then_the_list(
    raw, env, run_config, broker
):
    found = endpoints(parse_plan(raw), env, run_config)
    assert found.broker == broker
    assert found.backend == broker  # a Redis broker is its own result backend by default


def test_no_broker_anywhere_says_where_to_set_one_instead_of_trying_amqp_localhost():
    with pytest.raises(CelerySettingsError, match="needs a broker: set SPINVOICES_CELERY_BROKER="):
        endpoints(parse_plan(ONE), {})


def test_a_broker_that_is_not_redis_needs_a_result_backend_named():
    env = {"SPINVOICES_CELERY_BROKER": "pyamqp://guest@rabbit//"}
    with pytest.raises(CelerySettingsError, match="set SPINVOICES_CELERY_BACKEND too"):
        endpoints(parse_plan(ONE), env)
    env["SPINVOICES_CELERY_BACKEND"] = "redis://r:6379/1"
    assert endpoints(parse_plan(ONE), env).backend == "redis://r:6379/1"


def test_messages_never_show_the_brokers_password():
    assert redact("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert redact("redis://user:s3cret@redis/0") == "redis://user:***@redis/0"
    assert redact("redis://redis:6379/0") == "redis://redis:6379/0"
    found = endpoints(parse_plan(ONE), {"SPINVOICES_CELERY_BROKER": "redis://:s3cret@r:1/0"})
    assert "s3cret" not in found.shown()


@pytest.mark.parametrize(("raw", "seconds"), [(None, 60.0), ("12.5", 12.5)])
def test_how_long_a_silent_worker_may_take_before_it_is_lost(raw, seconds):
    env = {} if raw is None else {"SPINVOICES_CELERY_WORKER_LOST_AFTER": raw}
    assert lost_after(env) == seconds


@pytest.mark.parametrize("raw", ["0", "-3", "soon"])
def test_a_bad_lost_after_is_refused(raw):
    with pytest.raises(CelerySettingsError, match="give a number of seconds > 0"):
        lost_after({"SPINVOICES_CELERY_WORKER_LOST_AFTER": raw})


class FakeCluster:
    """A clock the test moves, and the workers that answer pings now."""

    def __init__(self) -> None:
        self.now = 0.0
        self.answering: set[str] = set()
        self.pings: list[list[str]] = []

    def ping(self, names: list[str]) -> list[str]:
        self.pings.append(names)
        return [name for name in names if name in self.answering]


def watch(cluster: FakeCluster) -> WorkerWatch:
    return WorkerWatch(ping=cluster.ping, lost_after=20, clock=lambda: cluster.now)


@pytest.mark.parametrize(
    ("answers", "lost_at"),
    [
        # (time, answering?) from t=0, when w1 starts the step; checked every 5 s.
        ([True] * 12, None),  # answers throughout: never lost
        ([False] * 12, 25.0),  # silent from the start: lost once 20 s have passed
        ([True, True, True, False, False, False, False, False, False, False], 35.0),
        ([True, False, False, False, True, False, False, False, False, False], 45.0),
    ],
)
def test_a_worker_is_lost_once_silent_for_longer_than_lost_after(answers, lost_at):
    cluster = FakeCluster()
    watched = watch(cluster)
    found = None
    for tick, answering in enumerate(answers):
        cluster.now = 5.0 * tick
        cluster.answering = {"w1"} if answering else set()
        if watched.is_lost("w1"):
            found = cluster.now
            break
    assert found == lost_at


def test_pings_go_out_at_most_every_quarter_of_lost_after_to_every_worker_in_one_broadcast():
    cluster = FakeCluster()
    cluster.answering = {"w1", "w2"}
    watched = watch(cluster)
    for now in (0.0, 1.0, 2.0, 4.9, 5.0):
        cluster.now = now
        watched.is_lost("w1")
        watched.is_lost("w2")
    assert cluster.pings == [["w1"], ["w1", "w2"]]


def test_a_forgotten_worker_is_pinged_no_more():
    cluster = FakeCluster()
    watched = watch(cluster)
    watched.is_lost("w1")
    watched.forget("w1")
    cluster.now = 10.0
    watched.is_lost("w2")
    assert cluster.pings == [["w1"], ["w2"]]
