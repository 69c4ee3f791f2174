"""The target goes away: a target that stops reading ends the run with one clear line."""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.conftest import config_for
from tests.singer_run import catalog_selecting, tap_command, tap_env

# A target that takes 100 messages, then exits without reading the rest.
READ_100_LINES_AND_EXIT = "import sys\nfor _ in range(100):\n    sys.stdin.buffer.readline()\n"
OUTPUT_CLOSED = (
    "Output closed: the target stopped reading the tap's stdout (broken pipe); "
    "the last STATE it received is where the next run resumes"
)


def test_a_target_that_exits_after_100_lines_ends_the_run_with_one_broken_pipe_line(
    emulator_factory, tmp_path
):
    emu = emulator_factory()
    config = config_for(emu).with_range("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z").build()
    catalog = tmp_path / "catalog.json"
    catalog.write_bytes(orjson.dumps(catalog_selecting(("customer_invoices",))))
    stderr_path = tmp_path / "stderr.log"
    with (
        stderr_path.open("wb") as stderr,
        subprocess.Popen(
            [sys.executable, "-c", READ_100_LINES_AND_EXIT], stdin=subprocess.PIPE
        ) as target,
    ):
        assert target.stdin is not None
        tap = subprocess.Popen(
            tap_command(config, None, tmp_path, "--catalog", str(catalog)),
            stdout=target.stdin,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env=tap_env(),
        )
        target.stdin.close()  # the tap holds the only write end: the target's exit breaks it
        tap_code = tap.wait(timeout=120)  # hang guard
        target_code = target.wait(timeout=120)
    log = stderr_path.read_text()

    assert target_code == 0
    assert tap_code == 1, log
    broken = [line for line in log.splitlines() if "broken" in line.lower()]
    assert len(broken) == 1, log
    assert broken[0].endswith(f"| {OUTPUT_CLOSED}")
    assert "Traceback" not in log
    assert "An unhandled error occurred" not in log
