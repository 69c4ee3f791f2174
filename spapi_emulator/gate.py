"""A gate that holds requests at a chosen point of a client's progress.

Tests that stop the client mid-run (SIGKILL, SIGTERM, a clock jump) must not race it: on a
fast machine a backfill can end before a timer fires, on a loaded one a timer can fire before
the run started. With the gate, "the 37th request from now" is a point the client cannot run
past: that request and every later one wait until the test re-arms or opens the gate, so the
test acts while the client is held exactly there, whatever the machine's speed.

The gate counts every request that goes through the shared request path (LWA token, Tokens
API, every SP-API operation; not the pre-signed document downloads), in order of arrival.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field


@dataclass
class _Waiter:
    loop: asyncio.AbstractEventLoop
    released: asyncio.Future[None] = field(repr=False)


def _settle(released: asyncio.Future[None]) -> None:
    if not released.done():
        released.set_result(None)


class RequestGate:
    """Lets a given number of requests through, then holds the rest until re-armed or opened.

    Thread-safe: the emulator's loop calls ``pass_through``; a test thread arms and reads it.
    Open (letting everything through) until ``hold_after`` is called.
    """

    def __init__(self) -> None:
        """Start open, with no request counted."""
        self._lock = threading.Lock()
        self._arrived = 0
        self._last_passing: int | None = None  # None: open
        self._waiting: list[_Waiter] = []

    def hold_after(self, count: int) -> None:
        """Release what is held, let ``count`` more requests through, hold every later one.

        Args:
            count: How many requests arriving from now on pass; 0 holds the next one.

        Raises:
            ValueError: ``count`` is negative.

        """
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        with self._lock:
            self._last_passing = self._arrived + count
            released, self._waiting = self._waiting, []
        self._wake(released)

    def open(self) -> None:
        """Let every request through, including those held now."""
        with self._lock:
            self._last_passing = None
            released, self._waiting = self._waiting, []
        self._wake(released)

    def arrived(self) -> int:
        """Return how many requests have reached the gate since the emulator started."""
        with self._lock:
            return self._arrived

    def held(self) -> int:
        """Return how many requests are waiting at the gate now."""
        with self._lock:
            return len(self._waiting)

    async def pass_through(self) -> None:
        """Count this request and wait while the gate holds it."""
        with self._lock:
            self._arrived += 1
            if self._last_passing is None or self._arrived <= self._last_passing:
                return
            loop = asyncio.get_running_loop()
            waiter = _Waiter(loop, loop.create_future())
            self._waiting.append(waiter)
        try:
            await waiter.released
        finally:
            with self._lock:
                if waiter in self._waiting:  # cancelled while held (server shutdown)
                    self._waiting.remove(waiter)

    @staticmethod
    def _wake(waiters: list[_Waiter]) -> None:
        for waiter in waiters:
            if not waiter.loop.is_closed():
                waiter.loop.call_soon_threadsafe(_settle, waiter.released)
