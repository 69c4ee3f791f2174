"""End-to-end fixtures: Meltano on this repo's meltano.yml and a real PostgreSQL server.

Nothing here skips: when Meltano, a plugin or PostgreSQL cannot start, the test fails with the
reason and the fix. Every test under tests/e2e gets the ``e2e`` marker (`pytest -m e2e`).
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.meltano_project import Meltano, MeltanoUnavailableError, find_meltano
from tests.e2e.pgserver import PostgresServer, PostgresUnavailableError, start_server
from tests.e2e.session_emulator import stop_session_emulator
from tests.e2e.streams import start_emulator

if TYPE_CHECKING:
    from collections.abc import Iterator

    from spapi_emulator import EmulatorServer

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def pytest_sessionfinish() -> None:
    stop_session_emulator()


@pytest.fixture(scope="session")
def meltano_executable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Meltano with every plugin of meltano.yml installed (`meltano install` once a test run).

    Under pytest-xdist each worker process asks for it. `meltano install` reinstalls the
    plugins into .meltano/ in place, so a second one would swap the tap's package under a
    test of another worker that runs it: the first worker installs, holding a lock that
    the others wait on, and leaves a mark that they read instead of installing again.
    """
    try:
        executable = find_meltano()
        with first_in_this_run(tmp_path_factory, "meltano-install") as first:
            if first:
                database = f"sqlite:///{tmp_path_factory.mktemp('meltano')}/meltano.db"
                Meltano(executable, database).install()
    except MeltanoUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    return executable


@contextmanager
def first_in_this_run(factory: pytest.TempPathFactory, name: str) -> Iterator[bool]:
    """Whether this process is the first of the test run to do ``name``; one at a time.

    The run's folder is the one every xdist worker's temp folder is in (the session's own
    without xdist). The mark is left only when the block ends without an error, so after a
    failed install the next worker tries again (and fails with its own message).
    """
    run_dir = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_dir = run_dir.parent
    done = run_dir / f"{name}.done"
    with (run_dir / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        first = not done.exists()
        yield first
        if first:
            done.touch()


@pytest.fixture
def meltano(meltano_executable: Path, tmp_path: Path) -> Meltano:
    """Meltano with a fresh state database of this test's own."""
    return Meltano(meltano_executable, f"sqlite:///{tmp_path / 'meltano.db'}")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own on a free loopback port."""
    try:
        server = start_server()
    except PostgresUnavailableError as exc:
        pytest.fail(f"PostgreSQL could not start: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def e2e_emulator() -> Iterator[EmulatorServer]:
    """An emulator of this test's own, every stream's data, quotas 1000x faster."""
    server = start_emulator()
    yield server
    server.close()
