"""Celery workers for tests, each as on a machine of its own: its own folder and process group.

Each worker is the documented command (docs/many-accounts.md) run in the checkout with
``SPINVOICES_WORK_DIR`` and ``TMPDIR`` in a folder of its own, so two workers share nothing
but the broker and the databases. Its process group holds the worker, its pool processes
and every Meltano, tap and loader process they start: ``kill()`` ends them all at once, as
a machine that dies would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.meltano_project import REPO

CELERY = REPO / ".venv-dagster" / "bin" / "celery"
READY_TIMEOUT = 180.0  # bounds a hang only: a worker is ready in seconds


class WorkerUnavailableError(RuntimeError):
    """A worker did not start; the message holds the end of its log."""


@dataclass
class CeleryWorker:
    """One running worker: ``node`` is the name Celery and Dagster's events know it by."""

    name: str
    process: subprocess.Popen[bytes]
    folder: Path

    @property
    def node(self) -> str:
        return f"{self.name}@{socket.gethostname()}"

    @property
    def log(self) -> Path:
        return self.folder / "worker.log"

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker and everything it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def alive_processes(self) -> list[int]:
        """Processes of the worker's group still running (zombies waiting to be reaped aside)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    # /proc/<pid>/stat: "pid (name) state ppid pgrp ..."; the name may hold spaces.
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if fields[0] != "Z" and int(fields[2]) == self.process.pid:
                        found.append(int(entry.name))
        return found


def worker_command(name: str, concurrency: int) -> list[str]:
    """The documented worker command (docs/many-accounts.md), run in the checkout."""
    return [
        str(CELERY),
        "-A",
        "orchestration.celery_app",
        "worker",
        f"--hostname={name}@%h",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
    ]


def start_worker(name: str, env: dict[str, str], root: Path, concurrency: int) -> CeleryWorker:
    """A worker started and ready (Celery logs "ready."), with its own folder under ``root``."""
    folder = root / name
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    own = {**env, "SPINVOICES_WORK_DIR": str(folder), "TMPDIR": str(folder / "tmp")}
    with (folder / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            worker_command(name, concurrency),
            cwd=REPO,
            env=own,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = CeleryWorker(name, process, folder)
    deadline = time.monotonic() + READY_TIMEOUT
    while b" ready." not in worker.log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            tail = worker.log.read_text(errors="replace")[-3000:]
            raise WorkerUnavailableError(f"Celery worker {name} did not start:\n{tail}")
        time.sleep(0.1)
    return worker
