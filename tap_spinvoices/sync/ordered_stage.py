"""Work on items concurrently, hand them on strictly in the order they came.

The archive uploads the documents of a page before the page may cross to the SDK's thread;
pages (and the "window done" markers between them) must still cross in window order, and
the uploads of the next pages should not wait for the slowest upload of this one. So each
item's work starts when the item arrives, and the item is handed on once its work and every
earlier item's hand-over are done. At most ``max_pending`` items wait between the two; past
that ``put`` waits, which slows the walk of windows instead of filling memory.

The first failed work stops the stage: the items before it are still handed on (their
windows' STATE can be written), that error is raised by the next ``put`` or by ``finish``,
and the work of later items is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Generic, Self, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType

T = TypeVar("T")

if TYPE_CHECKING:
    # The work of one item: an awaitable to wait for before it is handed on, or None.
    Work = Callable[[T], Awaitable[None] | None]


class OrderedStage(Generic[T]):
    """``async with OrderedStage(work, deliver, max_pending=n) as stage: await stage.put(x)``."""

    def __init__(
        self, work: Work[T], deliver: Callable[[T], Awaitable[None]], *, max_pending: int
    ) -> None:
        """Start nothing yet; the stage runs inside ``async with``."""
        self._work = work
        self._deliver = deliver
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[None] | None] | None] = asyncio.Queue(
            max_pending
        )
        self._forwarder: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        """Start handing items on."""
        self._forwarder = asyncio.create_task(self._forward(), name="ordered-stage")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Cancel whatever is left (after ``finish`` nothing is)."""
        forwarder = self._forwarder
        if forwarder is not None and not forwarder.done():
            forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await forwarder
        elif forwarder is not None:
            _retrieve(forwarder)  # left by another error (a cancelled walk): seen, not logged
        left = [entry[1] for entry in _drain(self._queue) if entry and entry[1] is not None]
        for future in left:
            future.cancel()
        # Their errors, if any, are the first failure's consequences: retrieved, not logged.
        await asyncio.gather(*left, return_exceptions=True)

    async def put(self, item: T) -> None:
        """Start ``item``'s work; wait while ``max_pending`` items wait to be handed on."""
        job = self._work(item)
        future = None if job is None else asyncio.ensure_future(job)
        if future is not None:
            future.add_done_callback(_retrieve)
        try:
            await self._enqueue((item, future))
        except BaseException:
            if future is not None:
                future.cancel()
            raise

    async def finish(self) -> None:
        """Wait until every item was handed on; raise the first failed work's error."""
        await self._enqueue(None)
        assert self._forwarder is not None  # noqa: S101 - set by __aenter__
        await self._forwarder

    async def _enqueue(self, entry: tuple[T, asyncio.Future[None] | None] | None) -> None:
        forwarder = self._forwarder
        assert forwarder is not None  # noqa: S101 - set by __aenter__
        if forwarder.done():
            forwarder.result()  # raises the work's error
            msg = "the stage has finished"
            raise RuntimeError(msg)
        putting = asyncio.ensure_future(self._queue.put(entry))
        done, _ = await asyncio.wait({putting, forwarder}, return_when=asyncio.FIRST_COMPLETED)
        if putting not in done:
            putting.cancel()
            forwarder.result()  # the forwarder stopped: raise its error

    async def _forward(self) -> None:
        while (entry := await self._queue.get()) is not None:
            item, future = entry
            if future is not None:
                await future
            await self._deliver(item)


def _retrieve(future: asyncio.Future[None] | asyncio.Task[None]) -> None:
    """Mark a work's error as seen.

    The stage raises the first one; a later one is its consequence and must not be logged
    as never retrieved.
    """
    if not future.cancelled():
        future.exception()


def _drain(queue: asyncio.Queue[T]) -> list[T]:
    items: list[T] = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
