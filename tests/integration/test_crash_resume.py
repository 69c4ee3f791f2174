"""Crash and resume: wherever the tap dies, its last STATE resumes it and no invoice is lost.

A STATE line is written only after every record of the windows it covers, so whatever kills
the tap (SIGKILL, SIGTERM from a scheduler, Ctrl-C), the last complete STATE line it printed
is safe to resume from. Resuming repeats at most the records printed after that STATE: the
windows that were in flight.

No kill races the tap's speed: every stop lands at a point of its progress, the Nth RECORD
line it printed or the Nth request the emulator's gate holds (spapi_emulator/gate.py). A held
request is never answered, so a run cannot end before the test stops it, on any machine.
"""

from __future__ import annotations

import bisect
import contextlib
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import orjson
import pytest

from tap_spinvoices.isotime import parse_datetime
from tap_spinvoices.sync.windows import BOUNDARY_OVERLAP, plan_windows
from tests.conftest import config_for, expected_invoices
from tests.singer_run import (
    TapRun,
    catalog_selecting,
    parse_messages,
    run_tap,
    tap_command,
    tap_env,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from spapi_emulator import EmulatorServer

STREAM = "customer_invoices"
START, END = "2024-01-01T00:00:00Z", "2024-01-31T00:00:00Z"
WINDOW_HOURS = 6
MAX_CONCURRENCY = 8
CRASHES = 8
# Only a hung tap ever waits this long: every wait below ends at a point of progress.
HANG_GUARD_S = 120.0


class TapProcess:
    """The tap run as users run it, its stdout read line by line while it runs.

    Only complete lines count as printed: a process killed mid-line leaves half a line,
    which no target would accept either.
    """

    def __init__(
        self,
        config: dict[str, Any],
        state: dict[str, Any] | None,
        workdir: Path,
        *,
        log_level: str | None = None,
        streams: tuple[str, ...] = (STREAM,),
    ) -> None:
        workdir.mkdir(parents=True)
        catalog = workdir / "catalog.json"
        catalog.write_bytes(orjson.dumps(catalog_selecting(streams)))
        self._stderr_path = workdir / "stderr.log"
        with self._stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                tap_command(config, state, workdir, "--catalog", str(catalog)),
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env=tap_env(log_level),
            )
        self._raw = bytearray()
        self.messages: list[dict[str, Any]] = []
        self.records = 0
        self._ended = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="tap-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self._raw += line
                if line.endswith(b"\n"):
                    message = orjson.loads(line)
                    self.messages.append(message)
                    self.records += message["type"] == "RECORD"
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_until(self, condition: Callable[[TapProcess], bool]) -> bool:
        """Wait until ``condition(self)`` holds (True) or the tap's stdout closed (False).

        The condition may read the emulator too (its gate), which does not notify this
        reader: it is evaluated again on every line and every few milliseconds.
        """
        deadline = time.monotonic() + HANG_GUARD_S
        with self._changed:
            while not (self._ended or condition(self)):
                assert time.monotonic() < deadline, "hang guard: the tap made no progress"
                self._changed.wait(0.01)
            return condition(self)

    def bookmark(self) -> str | None:
        """The bookmark of the last STATE printed so far."""
        with self._changed:
            states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return bookmark_of(states[-1]) if states else None

    def stop(self, sig: int | None = None, timeout: float = 60) -> TapRun:
        """Send ``sig`` (None: let it finish), wait for the exit and return what it printed."""
        if sig is not None:
            self.proc.send_signal(sig)  # a no-op once the process has exited
        self.proc.wait(timeout)
        self._close_stdout(timeout)
        raw = bytes(self._raw)
        stderr = self._stderr_path.read_text()
        return TapRun(self.proc.returncode, parse_messages(raw), stderr, raw)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_stdout(5)

    def _close_stdout(self, timeout: float) -> None:
        self._reader.join(timeout)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def bookmark_of(state: dict[str, Any], stream: str = STREAM) -> str | None:
    """The stream's bookmark (its first partition's, for a partitioned stream)."""
    bookmark = state["bookmarks"].get(stream, {})
    partitions = bookmark.get("partitions")
    if partitions:
        bookmark = partitions[0]
    value: str | None = bookmark.get("replication_key_value")
    return value


def crash_config(emu: EmulatorServer) -> dict[str, Any]:
    config = config_for(emu).with_range(START, END).with_setting("window_hours", WINDOW_HOURS)
    return config.with_setting("max_concurrency", MAX_CONCURRENCY).build()


def windows_left(state: dict[str, Any] | None) -> int:
    """How many windows a run resumed from ``state`` fetches: its fewest requests, less tokens."""
    start = (state and bookmark_of(state)) or START
    return len(window_ends(start)) - 1


def window_ends(
    start: str,
    end: str = END,
    *,
    window_hours: int = WINDOW_HOURS,
    max_concurrency: int = MAX_CONCURRENCY,
) -> set[datetime]:
    """Where the STATE of a run starting at ``start`` may point: its start or a window end."""
    windows = plan_windows(
        parse_datetime(start),
        parse_datetime(end),
        max_length=timedelta(hours=window_hours),
        min_count=max_concurrency,
    )
    return {parse_datetime(start)} | {w.end for w in windows}


def most_invoices_in_one_window(emu: EmulatorServer) -> int:
    """The most invoices one request can cover: a window of WINDOW_HOURS plus its overlap."""
    stamps = [i.created_at for i in expected_invoices(emu, START, END)]
    span = timedelta(hours=WINDOW_HOURS) + BOUNDARY_OVERLAP
    return max(bisect.bisect_left(stamps, at + span) - k for k, at in enumerate(stamps))


def printed_after_last_state(run: TapRun) -> set[str]:
    last = max((k for k, m in enumerate(run.messages) if m["type"] == "STATE"), default=-1)
    return {
        m["record"]["purchaseOrderNumber"]
        for m in run.messages[last + 1 :]
        if m["type"] == "RECORD"
    }


def in_overlap_before(bookmark: str | None, created: dict[str, datetime]) -> set[str]:
    """Invoices a run resumed at ``bookmark`` re-reads on purpose (the 1 s window overlap)."""
    if bookmark is None:
        return set()
    upper = parse_datetime(bookmark)
    return {po for po, at in created.items() if upper - BOUNDARY_OVERLAP <= at < upper}


def assert_state_claims_only_printed_invoices(
    run: TapRun, created: dict[str, datetime], start: str, boundaries: set[datetime] | None = None
) -> datetime:
    """The last STATE points at a window end, and every invoice before it was printed."""
    bookmark = bookmark_of(run.final_state)
    assert bookmark is not None
    moment = parse_datetime(bookmark)
    assert moment in (window_ends(start) if boundaries is None else boundaries)
    printed = {r["purchaseOrderNumber"] for r in run.records()}
    claimed = {po for po, at in created.items() if parse_datetime(start) <= at < moment}
    assert claimed <= printed, f"STATE {bookmark} claims {len(claimed - printed)} unprinted"
    return moment


@pytest.mark.parametrize("kill_after", ["records", "requests"])
def test_sigkill_at_random_moments_then_resuming_from_the_last_state_loses_no_invoice(
    emulator_factory, tmp_path, kill_after
):
    # "records": SIGKILL after the Nth RECORD line, N drawn from 1..300 (mid-window: up to
    # MAX_CONCURRENCY windows are in flight). "requests": SIGKILL while the emulator holds
    # the Kth request, K drawn from 0 (before the LWA token) to the last window's request.
    # Either way the gate holds a request the run needs, so it cannot end before the kill.
    emu = emulator_factory()
    rng = random.Random(f"crash-resume-{kill_after}")  # noqa: S311 - seeded, same kills each run
    expected = expected_invoices(emu, START, END)
    created = {i.purchase_order_number: i.created_at for i in expected}
    per_crash = MAX_CONCURRENCY * most_invoices_in_one_window(emu)
    printed: Counter[str] = Counter()
    may_repeat: set[str] = set()  # printed after a STATE that a later run resumes from
    state: dict[str, Any] | None = None
    crashes = 0
    for number in range(CRASHES + 1):
        if number < CRASHES:
            # Fewer requests than the windows left: the tap always stops at the gate or before.
            passing = windows_left(state) - 1
            records = rng.randint(1, 300) if kill_after == "records" else None
            emu.gate.hold_after(passing if records else rng.randint(0, passing))
        else:
            emu.gate.open()
        with TapProcess(crash_config(emu), state, tmp_path / f"run-{number}") as tap:
            if number < CRASHES:
                assert tap.wait_until(
                    lambda t: emu.gate.held() > 0 or (records and t.records >= records)  # noqa: B023
                ), "the run ended although the gate held one of its requests"
                run = tap.stop(signal.SIGKILL)
            else:
                run = tap.stop()
        numbers = [r["purchaseOrderNumber"] for r in run.records()]
        repeated = {po for po in numbers if po in printed}
        assert repeated <= may_repeat | in_overlap_before(state and bookmark_of(state), created)
        printed.update(numbers)
        may_repeat |= printed_after_last_state(run)
        if run.states():
            start = bookmark_of(state) if state else None
            assert_state_claims_only_printed_invoices(run, created, start or START)
            state = run.final_state
        if run.returncode == 0:
            break
        assert run.returncode == -signal.SIGKILL
        crashes += 1
    else:
        pytest.fail("the last run, never killed, did not finish")

    assert crashes == CRASHES
    assert set(printed) == set(created)
    assert sum(printed.values()) - len(printed) <= crashes * per_crash
    assert state is not None
    assert bookmark_of(state) == "2024-01-31T00:00:00+00:00"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_writes_the_state_of_completed_windows_last_and_exits_128_plus_signal(
    emulator_factory, tmp_path, sig, code
):
    # The emulator holds the 81st request and never answers it: the tap is interrupted with
    # a request in flight, and exits without waiting for it (else stop() hits its guard).
    emu = emulator_factory()
    created = {i.purchase_order_number: i.created_at for i in expected_invoices(emu, START, END)}
    emu.gate.hold_after(80)
    with TapProcess(crash_config(emu), None, tmp_path / "interrupted") as tap:
        assert tap.wait_until(lambda t: t.records >= 100 and emu.gate.held() > 0)
        interrupted = tap.stop(sig)

    assert interrupted.returncode == code
    assert interrupted.messages[-1]["type"] == "STATE"
    bookmark = assert_state_claims_only_printed_invoices(interrupted, created, START)
    assert parse_datetime(START) < bookmark < parse_datetime(END)
    assert (
        f"Interrupted by {signal.Signals(sig).name}: wrote the STATE of the completed windows; "
        f"exit code {code}. Run again with that STATE to resume"
    ) in interrupted.stderr
    assert "Traceback" not in interrupted.stderr

    emu.gate.open()
    resumed = run_tap(crash_config(emu), interrupted.final_state)
    assert resumed.returncode == 0, resumed.stderr
    numbers = [r["purchaseOrderNumber"] for r in interrupted.records() + resumed.records()]
    assert set(numbers) == set(created)
    repeated = len(numbers) - len(set(numbers))
    assert repeated <= MAX_CONCURRENCY * most_invoices_in_one_window(emu)


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "PYTHONUNBUFFERED"])
def test_sigterm_while_the_target_reads_nothing_still_ends_with_a_whole_state_line(
    emulator_factory, tmp_path, unbuffered
):
    # A slow target lets the stdout pipe fill up; the tap then blocks in a write, and that
    # is when the scheduler's SIGTERM arrives. The handler writes the STATE after the line
    # being written, never into the middle of it. Under PYTHONUNBUFFERED (python -u, common
    # in containers) the interrupted write returns short and the rest must still follow.
    # The signal is sent once the kernel shows the tap asleep in a write to the full pipe.
    env = {k: v for k, v in tap_env().items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    emu = emulator_factory()
    created = {i.purchase_order_number: i.created_at for i in expected_invoices(emu, START, END)}
    catalog = tmp_path / "catalog.json"
    catalog.write_bytes(orjson.dumps(catalog_selecting((STREAM,))))
    command = tap_command(crash_config(emu), None, tmp_path, "--catalog", str(catalog))
    stderr_path = tmp_path / "stderr.log"
    with (
        stderr_path.open("wb") as stderr_file,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file, env=env) as proc,
    ):
        wait_until_blocked_writing_to_a_pipe(proc.pid)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=HANG_GUARD_S)
    stderr = stderr_path.read_bytes()

    assert proc.returncode == 143, stderr.decode()
    assert stdout.endswith(b"\n")
    messages = parse_messages(stdout)  # raises on a torn line
    assert messages[-1]["type"] == "STATE"
    interrupted = TapRun(proc.returncode, messages, stderr.decode(), stdout)
    assert_state_claims_only_printed_invoices(interrupted, created, START)
    assert len(interrupted.records()) < len(created)  # it really was interrupted


def wait_until_blocked_writing_to_a_pipe(pid: int) -> None:
    """Wait until a thread of ``pid`` sleeps in the kernel's pipe write (Linux /proc).

    The kernel names the function a sleeping thread waits in (``wchan``): ``pipe_write``,
    ``anon_pipe_write`` on newer kernels. Its only pipe is stdout (stderr goes to a file).
    """
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that just ended
                if "pipe_write" in (task / "wchan").read_text():
                    return
        assert time.monotonic() < deadline, "hang guard: the tap never blocked on its stdout"
        time.sleep(0.005)
