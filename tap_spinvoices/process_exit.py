"""Ending a command without the interpreter's teardown, which obstore's runtime can crash.

obstore (the archive's client for S3, GCS and Azure) runs its requests on a Tokio runtime
whose worker threads are never told that the process is ending. When one of them is busy
at the moment CPython starts tearing the interpreter down (``Py_FinalizeEx``), it panics
on state that is already gone, and a panic on a thread with no Python frame to catch it
aborts the whole process: exit -6 (SIGABRT) after the run's last line, although its STATE
and records were all written. Seen here in about 1 of 40 tap runs and 7 of 100 verify runs
against the test S3 server; the same race is described for another Rust-backed client in
https://github.com/lancedb/lancedb/pull/4175. Freeing obstore's objects first made it rarer,
not impossible.

So a command's entry point does what the interpreter would do before its teardown, in the
same order (wait for the threads that are not daemons, run the ``atexit`` callbacks, flush
the standard streams), then leaves with ``os._exit`` and the exit code it would have had.
Nothing the run wrote is lost, and the teardown that can abort never starts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import traceback
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from collections.abc import Callable


def exit_code_of(exc: SystemExit) -> int:
    """The process's exit code for ``sys.exit(arg)``, as the interpreter computes it."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    # sys.exit("message") prints the message to stderr and exits 1.
    print(code, file=sys.stderr)  # noqa: T201 - the interpreter's own behaviour
    return 1


def run_and_exit(command: Callable[[], object]) -> NoReturn:
    """Run ``command``, then leave the process with its exit code, skipping the teardown."""
    try:
        command()
        code = 0
    except SystemExit as exc:
        code = exit_code_of(exc)
    except BaseException:  # noqa: BLE001 - an unexpected error still prints its traceback, as before
        traceback.print_exc()
        code = 1
    _leave(code)


def _leave(code: int) -> NoReturn:
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # noqa: SLF001 - the callbacks the skipped teardown would run
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe or stream: nothing more can be said there.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
