"""Run an asyncio producer in a worker thread and consume its items as a plain iterator.

singer-sdk is synchronous: records must be yielded from ``Stream.get_records`` on the main
thread, where the SDK writes them and moves state. The network work runs on its own event
loop in a worker thread; items cross over through a queue holding at most ``max_pending``
items, so a slow target slows the fetching instead of filling memory.

Stopping early (``--test``, a record limit, an exception, SIGTERM's ``SystemExit``) closes the
generator: the producer is cancelled, its ``finally`` blocks run inside its loop (sessions are
closed there), and the thread is joined before the generator returns.
"""

from __future__ import annotations

import asyncio
import enum
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, Final, Generic, TypeVar

T = TypeVar("T")

# Joining the worker after cancellation: its finally blocks only close sockets.
_JOIN_TIMEOUT_S: Final = 30.0


class _Kind(enum.Enum):
    ITEM = enum.auto()
    DONE = enum.auto()
    ERROR = enum.auto()


Producer = Callable[[Callable[[T], Awaitable[None]]], Coroutine[Any, Any, None]]


class _Worker(Generic[T]):
    """The worker thread's side: an event loop running one producer."""

    def __init__(self, producer: Producer[T], max_pending: int) -> None:
        self.items: queue.SimpleQueue[tuple[_Kind, Any]] = queue.SimpleQueue()
        self._producer = producer
        self._max_pending = max_pending
        self._started = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._credits: asyncio.Semaphore | None = None
        self._task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self._run, name="spinvoices-io", daemon=True)

    def start(self) -> None:
        self.thread.start()
        self._started.wait()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except asyncio.CancelledError:
            self.items.put((_Kind.DONE, None))

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._credits = asyncio.Semaphore(self._max_pending)
        self._task = asyncio.current_task()
        self._started.set()
        try:
            await self._producer(self._deliver)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            self.items.put((_Kind.ERROR, exc))
        else:
            self.items.put((_Kind.DONE, None))

    async def _deliver(self, item: T) -> None:
        assert self._credits is not None  # noqa: S101 - set before the producer runs
        await self._credits.acquire()
        self.items.put((_Kind.ITEM, item))

    def release_credit(self) -> None:
        """Called from the consuming thread once it took an item."""
        if self.loop is not None and self._credits is not None:
            try:
                self.loop.call_soon_threadsafe(self._credits.release)
            except RuntimeError:  # the producer finished and its loop closed: nothing waits
                return

    def cancel(self) -> None:
        """Called from the consuming thread to stop the producer early."""
        if self.loop is not None and self._task is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self._task.cancel)
            except RuntimeError:  # the loop closed between the check and the call
                return


def items_from_io_thread(producer: Producer[T], *, max_pending: int = 8) -> Iterator[T]:
    """Run ``producer`` on a worker thread; yield what it delivers in order; raise its error."""
    worker: _Worker[T] = _Worker(producer, max_pending)
    worker.start()
    try:
        while True:
            kind, payload = worker.items.get()
            if kind is _Kind.ITEM:
                worker.release_credit()
                yield payload
            elif kind is _Kind.DONE:
                return
            else:
                raise payload
    finally:
        worker.cancel()
        worker.thread.join(_JOIN_TIMEOUT_S)
