"""Request counters per operation, for tests, benchmarks and ``GET /_emulator/stats``."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

# Status key of requests aborted without a response (fault_reset_rate).
CONNECTION_RESET = "reset"


@dataclass
class _OperationCounters:
    requests: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    first_at: float = 0.0
    last_at: float = 0.0


class Stats:
    """Thread-safe counters: the server thread records, any thread reads a snapshot."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Start with no requests counted.

        Args:
            clock: Monotonic clock (seconds) that stamps the first and last answer.

        """
        self._clock = clock
        self._operations: dict[str, _OperationCounters] = {}
        self._lock = threading.Lock()

    def record(self, operation: str, status: int | str) -> None:
        """Count one finished request.

        Args:
            operation: The operationId (or ``lwaToken`` / ``unmatched``).
            status: The HTTP status sent, or ``"reset"`` for an aborted connection.

        """
        with self._lock:
            counters = self._operations.setdefault(operation, _OperationCounters())
            now = self._clock()
            if not counters.requests:
                counters.first_at = now
            counters.last_at = now
            counters.requests += 1
            counters.by_status[str(status)] += 1

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Return a JSON-ready copy of the counters.

        Returns:
            operationId -> {"requests", "by_status", "throttled" (429s), "resets",
            "first_at", "last_at" (clock readings of the first and last answer: the span a
            benchmark measures a budget's use over)}.

        """
        with self._lock:
            return {
                operation: {
                    "requests": counters.requests,
                    "by_status": dict(sorted(counters.by_status.items())),
                    "throttled": counters.by_status["429"],
                    "resets": counters.by_status[CONNECTION_RESET],
                    "first_at": counters.first_at,
                    "last_at": counters.last_at,
                }
                for operation, counters in sorted(self._operations.items())
            }
