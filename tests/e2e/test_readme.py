"""Every shell command README.md shows runs, as written, from top to bottom, offline.

The commands of the README's ``bash`` blocks (tests/readme_commands.py) run in document order
in one bash shell (``set -euo pipefail``), the way a reader following the README types them,
in a copy of this checkout (its tracked files as they are in the work tree) next to which
the "your own project" flow makes its project. No command reaches Amazon: every one talks to
the emulator. What the harness adds to what a reader does, and nothing else:

- The emulator's port: ``8080`` in the commands, meltano.yml and sample_config.json becomes a
  free port, so runs side by side never collide.
- After a command that starts something in the background (``... &``), it waits until the
  port accepts connections, as a reader waits for the emulator's URL line; before one, until
  the port is free again (the previous emulator has exited).
- The copy's ``.venv`` is made beforehand with uv (seconds), so the README's ``python3 -m
  venv .venv`` and ``pip install -e .`` run as written but find their dependencies in place;
  ``.venv-meltano`` is this checkout's (Meltano itself; plugins install into the copy).

A command marked ``# needs Amazon`` is not run; one marked ``# CI runs this`` is a step of
.ci/run. Both lists are pinned below, so a new command that cannot run here, or a marker
added to dodge a failure, shows up in review.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.meltano_project import REPO, clean_env, tail
from tests.readme_commands import Command, Marker, commands

README = REPO / "README.md"
EMULATOR_PORT = "8080"
# Files of the copy that name the emulator's port.
PORT_FILES = ("meltano.yml", "sample_config.json")
NEEDS_AMAZON = (
    ".venv/bin/tap-spinvoices --config config.json --check",
    (
        "TAP_SPINVOICES_START_DATE=2024-01-01T00:00:00Z "
        "TARGET_POSTGRES_SQLALCHEMY_URL=postgresql+psycopg://u:p@host/db \\\n"
        "  .venv-meltano/bin/meltano --environment=prod run tap-spinvoices target-postgres"
    ),
    (
        "mkdir -p .dagster && DAGSTER_HOME=$PWD/.dagster .venv-dagster/bin/dg launch "
        "\\\n    --job sync_all_accounts -m orchestration.definitions"
    ),
)
CI_RUNS_THIS = (
    "scripts/demo",
    "bash .ci/run",
    "scripts/demo-accounts",
    "scripts/demo-accounts --executor celery",
    "scripts/install-dagster",
)
RUN_TIMEOUT_S = 900


def readme_commands() -> list[Command]:
    return commands(README.read_text(encoding="utf-8"))


def test_the_commands_not_run_here_are_the_known_ones():
    found = readme_commands()
    assert [c.code for c in found if c.marker is Marker.NEEDS_AMAZON] == list(NEEDS_AMAZON)
    assert [c.code for c in found if c.marker is Marker.CI_RUNS_THIS] == list(CI_RUNS_THIS)


def test_each_command_ci_runs_is_a_step_of_ci_run():
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    for code in CI_RUNS_THIS:
        if code == "bash .ci/run":
            continue  # CI's entry point itself
        # The program and its first argument start a line of .ci/run (CI may add options).
        head = " ".join(code.split()[:3] if code.startswith(".venv/") else code.split()[:1])
        assert any(line.startswith(head) for line in ci), f"{code!r} is not run by .ci/run"


def test_every_readme_command_runs_as_written(tmp_path: Path):
    port = str(free_port())
    checkout = copy_of_checkout(tmp_path / "tap-spinvoices", port)
    to_run = [c for c in readme_commands() if c.marker is Marker.RUN]
    assert len(to_run) > 20  # the README's walk-through, not a stray block
    (tmp_path / "readme.sh").write_text(shell_script(to_run, port))
    log = tmp_path / "readme.log"
    env = clean_env(NO_COLOR="1", COLUMNS="200")
    with log.open("wb") as output:
        proc = subprocess.Popen(
            ["bash", str(tmp_path / "readme.sh")],
            cwd=checkout,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=RUN_TIMEOUT_S)
        finally:
            with contextlib.suppress(ProcessLookupError):  # what it left in the background
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text(errors="replace")
    ran = re.findall(r"^### README\.md:(\d+) ", text, flags=re.MULTILINE)
    assert code == 0, f"README.md:{ran[-1] if ran else '?'} failed:\n{tail(text, 60)}"
    assert [int(n) for n in ran] == [c.line for c in to_run]


def shell_script(to_run: list[Command], port: str) -> str:
    """One bash script: each command as written (its port replaced), announced by its line."""
    lines = [
        "set -euo pipefail",
        "port_open() { (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; }",
        # Bounded waits on progress (a port opening or closing), never on time alone.
        (
            "wait_open() { for _ in $(seq 600); do port_open $1 && return 0; sleep 0.05; done;"
            ' echo "nothing listens on port $1" >&2; return 1; }'
        ),
        (
            "wait_free() { for _ in $(seq 600); do port_open $1 || return 0; sleep 0.05; done;"
            ' echo "port $1 is still taken" >&2; return 1; }'
        ),
    ]
    for command in to_run:
        text = re.sub(rf"\b{EMULATOR_PORT}\b", port, command.text)
        background = command.code.endswith("&")
        lines.append(f"printf '\\n### README.md:{command.line} (at %ss)\\n' $SECONDS")
        if background:
            lines.append(f"wait_free {port}")
        lines.append(text)
        if background:
            lines.append(f"wait_open {port}")
    return "\n".join(lines) + "\n"


def copy_of_checkout(target: Path, port: str) -> Path:
    """The tracked files as they are in the work tree, the emulator's port set to ``port``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet committed
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination, follow_symlinks=False)
    for name in PORT_FILES:
        path = target / name
        path.write_text(re.sub(rf"\b{EMULATOR_PORT}\b", port, path.read_text()))
    meltano_venv = REPO / ".venv-meltano"
    if not (meltano_venv / "bin" / "meltano").is_file():
        pytest.fail("no .venv-meltano: run scripts/demo once (.ci/run does)", pytrace=False)
    (target / ".venv-meltano").symlink_to(meltano_venv)
    uv = Path(sys.executable).with_name("uv")
    for args in (
        ["venv", "--quiet", "--seed", str(target / ".venv")],
        ["pip", "install", "--quiet", "--python", str(target / ".venv/bin/python"), "-e", "."],
    ):
        subprocess.run([str(uv), *args], cwd=target, check=True, capture_output=True)
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
