"""Progress for people: one concise line per interval while a stream syncs, metrics at the end."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping


class OperationCounters(Protocol):
    """What the client counts per SP-API operation (client.RequestMetrics)."""

    requests: int
    throttled: int
    retries: int
    errors: int
    latency_s: float
    unexpected_bodies: int


@dataclass
class SyncProgress:
    """Windows, records and requests of one stream partition's sync, logged at a steady pace.

    The counters of requests live on the I/O thread's client; reading plain integers from
    the SDK's thread is safe under the GIL and at worst one request behind.
    """

    label: str
    windows_total: int
    operation: str
    # Stream.logger: a Logger up to singer-sdk 0.54, a LoggerAdapter from 0.55.
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
    interval_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    windows_done: int = 0
    records: int = 0
    started: float = field(init=False)
    _last_log: float = field(init=False)

    def __post_init__(self) -> None:
        """Start the clocks."""
        self.started = self._last_log = self.clock()

    def add_records(self, count: int) -> None:
        """Count records handed to the SDK."""
        self.records += count

    def window_done(self) -> None:
        """Count one window whose records were all written."""
        self.windows_done += 1

    def maybe_log(self, metrics: Mapping[str, OperationCounters], budget_rps: float) -> None:
        """Log a progress line when the interval has passed."""
        now = self.clock()
        if now - self._last_log >= self.interval_s:
            self._last_log = now
            self.logger.info(self.line(metrics, budget_rps, now))

    def line(self, metrics: Mapping[str, OperationCounters], budget_rps: float, now: float) -> str:
        """The progress line: windows, records, requests, 429s, rate vs budget, ETA."""
        elapsed = max(now - self.started, 1e-9)
        counters = metrics.get(self.operation)
        requests = counters.requests if counters else 0
        throttled = counters.throttled if counters else 0
        remaining = self.windows_total - self.windows_done
        eta = _duration(elapsed / self.windows_done * remaining) if self.windows_done else "unknown"
        return (
            f"{self.label}: {self.windows_done}/{self.windows_total} windows, "
            f"{self.records:,} records, {requests:,} requests ({throttled} x 429), "
            f"{requests / elapsed:.1f} req/s of {budget_rps:g} budget, ETA {eta}"
        )

    def summary(self, metrics: Mapping[str, OperationCounters]) -> list[str]:
        """One line per operation used: requests, 429s, retries, errors, latency, rate."""
        elapsed = max(self.clock() - self.started, 1e-9)
        lines = [
            (
                f"{self.label}: done, {self.windows_done}/{self.windows_total} windows, "
                f"{self.records:,} records in {_duration(elapsed)}"
            )
        ]
        for name, counters in sorted(metrics.items()):
            mean_ms = 1000 * counters.latency_s / counters.requests if counters.requests else 0
            lines.append(
                f"{self.label}: {name}: {counters.requests:,} requests, "
                f"{counters.throttled} x 429, {counters.retries} retries, "
                f"{counters.errors} errors, mean {mean_ms:.0f} ms, "
                f"{counters.requests / elapsed:.2f} req/s"
                + (
                    f", {counters.unexpected_bodies} windows cut short by answers without "
                    "the model's keys"
                    if counters.unexpected_bodies
                    else ""
                )
            )
        return lines


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
