"""Fetch many windows at once, deliver them strictly in window order, in bounded memory.

Rules this module guarantees, whatever order the network answers in:

1. Pages are delivered window by window, ascending; a window's pages in page order.
2. ``WindowDone(i)`` is delivered after every page of window ``i`` and of all windows before
   it, so whoever moves a bookmark on ``WindowDone`` never passes a gap.
3. The window whose turn it is (the head) streams straight through and never waits for
   memory. Windows ahead of their turn keep their pages in memory only while the buffered
   bytes stay under ``buffer_bytes``; past that they pause before their next page, and no new
   window starts until the head catches up. Memory is bounded by the budget plus one page per
   window in flight, not by the length of the history.
4. At most ``max_in_flight`` windows are being fetched at once. New windows wait for a free
   place, so a started window's next page never queues behind windows that have not begun.
5. When a window fails, no new window starts; the windows before it are still delivered,
   then its error is raised. Cancelling the coroutine cancels every fetch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

W = TypeVar("W")
R = TypeVar("R")


@dataclass(frozen=True)
class Page(Generic[R]):
    """Records of one response page, and what they cost in memory (bytes of the body)."""

    window_index: int
    records: list[R]
    size: int


@dataclass(frozen=True)
class WindowDone:
    """Every record of window ``window_index`` and of the windows before it was delivered."""

    window_index: int


@dataclass
class _Slot(Generic[R]):
    pages: deque[Page[R]] = field(default_factory=deque)
    finished: bool = False
    error: BaseException | None = None


FetchPages = Callable[[int, W], AsyncIterator[tuple[list[R], int]]]
Deliver = Callable[["Page[R] | WindowDone"], Awaitable[None]]


class _OrderedWalk(Generic[W, R]):
    """The shared bookkeeping of one ``fetch_in_order`` call."""

    def __init__(
        self,
        windows: Sequence[W],
        fetch_pages: FetchPages[W, R],
        *,
        max_in_flight: int,
        buffer_bytes: int,
    ) -> None:
        self.windows = windows
        self.fetch_pages = fetch_pages
        self.buffer_bytes = buffer_bytes
        self.slots: list[_Slot[R]] = [_Slot() for _ in windows]
        self.changed = asyncio.Condition()
        self.places = asyncio.Semaphore(max_in_flight)
        self.head = 0
        self.buffered = 0
        self.failed = False
        self.tasks: list[asyncio.Task[None]] = []

    def may_fetch_ahead(self, index: int) -> bool:
        return index == self.head or self.buffered < self.buffer_bytes

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def fetch_one(self, index: int) -> None:
        slot = self.slots[index]
        try:
            async for records, size in self.fetch_pages(index, self.windows[index]):
                slot.pages.append(Page(index, records, size))
                self.buffered += size
                await self.notify()
                async with self.changed:
                    await self.changed.wait_for(lambda: self.may_fetch_ahead(index))
        except asyncio.CancelledError:
            slot.finished = True
            raise
        except Exception as exc:  # noqa: BLE001 - kept and re-raised at the window's turn
            slot.error = exc
            self.failed = True
        slot.finished = True
        self.places.release()
        await self.notify()

    async def start_all(self) -> None:
        for index in range(len(self.windows)):
            await self.places.acquire()
            async with self.changed:
                await self.changed.wait_for(
                    lambda: self.failed or self.may_fetch_ahead(index)  # noqa: B023
                )
            if self.failed:
                self.places.release()
                return
            self.tasks.append(asyncio.create_task(self.fetch_one(index), name=f"window-{index}"))

    async def deliver_in_order(self, deliver: Deliver[R]) -> None:
        for index, slot in enumerate(self.slots):
            self.head = index
            await self.notify()
            while True:
                async with self.changed:
                    await self.changed.wait_for(lambda: bool(slot.pages) or slot.finished)  # noqa: B023
                while slot.pages:
                    page = slot.pages.popleft()
                    self.buffered -= page.size
                    await self.notify()
                    await deliver(page)
                if slot.finished and not slot.pages:
                    break
            if slot.error is not None:
                raise slot.error
            await deliver(WindowDone(index))


async def fetch_in_order(
    windows: Sequence[W],
    fetch_pages: FetchPages[W, R],
    deliver: Deliver[R],
    *,
    max_in_flight: int,
    buffer_bytes: int,
) -> None:
    """Fetch ``windows`` concurrently with ``fetch_pages`` and ``deliver`` them in order."""
    walk = _OrderedWalk(
        windows, fetch_pages, max_in_flight=max_in_flight, buffer_bytes=buffer_bytes
    )
    starter = asyncio.create_task(walk.start_all(), name="window-starter")
    try:
        await walk.deliver_in_order(deliver)
    finally:
        starter.cancel()
        for task in walk.tasks:
            task.cancel()
        await asyncio.gather(starter, *walk.tasks, return_exceptions=True)
