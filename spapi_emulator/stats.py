"""Request counters per operation, for tests, benchmarks and ``GET /_emulator/stats``."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

# Status key of requests aborted without a response (fault_reset_rate).
CONNECTION_RESET = "reset"


@dataclass
class _OperationCounters:
    requests: int = 0
    by_status: Counter[str] = field(default_factory=Counter)


class Stats:
    """Thread-safe counters: the server thread records, any thread reads a snapshot."""

    def __init__(self) -> None:
        """Start with no requests counted."""
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
            counters.requests += 1
            counters.by_status[str(status)] += 1

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Return a JSON-ready copy of the counters.

        Returns:
            operationId -> {"requests", "by_status", "throttled" (429s), "resets"}.

        """
        with self._lock:
            return {
                operation: {
                    "requests": counters.requests,
                    "by_status": dict(sorted(counters.by_status.items())),
                    "throttled": counters.by_status["429"],
                    "resets": counters.by_status[CONNECTION_RESET],
                }
                for operation, counters in sorted(self._operations.items())
            }
