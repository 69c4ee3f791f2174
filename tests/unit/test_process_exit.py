"""process_exit: a command leaves with its own exit code after what the teardown would do."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from tap_spinvoices.process_exit import exit_code_of

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("argument", "code"),
    [(None, 0), (0, 0), (3, 3), (143, 143), ("a message", 1)],
)
def test_exit_code_is_the_one_the_interpreter_would_give(argument: object, code: int) -> None:
    assert exit_code_of(SystemExit(argument)) == code


def _run(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "command.py"
    script.write_text(
        textwrap.dedent(
            """
            import atexit, sys, threading, time
            from pathlib import Path
            from tap_spinvoices.process_exit import run_and_exit
            marker = Path(sys.argv[1])
            """
        )
        + textwrap.dedent(body)
    )
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "marker")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_buffered_output_atexit_callbacks_and_the_exit_code_survive(tmp_path: Path) -> None:
    done = _run(
        """
        def command():
            atexit.register(lambda: marker.write_text("ran"))
            sys.stdout.write("x" * 100_000)  # still in the buffer when the command returns
            sys.exit(7)
        run_and_exit(command)
        """,
        tmp_path,
    )
    assert done.returncode == 7
    assert done.stdout == "x" * 100_000
    assert (tmp_path / "marker").read_text() == "ran"


def test_a_thread_that_is_not_a_daemon_is_waited_for(tmp_path: Path) -> None:
    done = _run(
        """
        def late():
            time.sleep(0.2)
            marker.write_text("thread finished")
        def command():
            threading.Thread(target=late).start()
        run_and_exit(command)
        """,
        tmp_path,
    )
    assert done.returncode == 0
    assert (tmp_path / "marker").read_text() == "thread finished"


def test_an_unexpected_error_prints_its_traceback_and_exits_1(tmp_path: Path) -> None:
    done = _run(
        """
        def command():
            raise LookupError("not handled anywhere")
        run_and_exit(command)
        """,
        tmp_path,
    )
    assert done.returncode == 1
    assert "LookupError: not handled anywhere" in done.stderr
