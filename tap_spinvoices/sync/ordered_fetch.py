"""Fetch many windows at once, deliver them strictly in window order, in bounded memory.

Rules this module guarantees, whatever order the network answers in:

1. Pages are delivered window by window, ascending; a window's pages in page order.
2. ``PartDone(i)`` is delivered after every page of window ``i`` and of all windows before
   it, so whoever moves a bookmark on ``PartDone`` never passes a gap.
3. The window whose turn it is (the head) streams straight through while its pages are
   taken as they come; it pauses only while it holds more than one page not yet taken (a
   consumer slower than the network: a slow target, the archive's uploads), since more
   pages held there would not be written any sooner.
   Windows ahead of their turn share ``buffer_bytes``: one may ask for its next page
   (or start) only while the pages they hold, plus one estimated page for each page asked
   for and for this one, fit in the budget (the estimate is the largest page seen so far,
   at least an equal share of the budget per window in flight; before the first page, a
   quarter of the budget, so few windows start blind). Freed budget
   goes to the window nearest the head first: no window asks while a window nearer the head
   waits. The window next in line may also use the whole budget for itself, whatever the
   others hold: when pages turn out larger than estimated, the first page parked by each
   window in flight can fill the budget, and the head would otherwise walk its chain of
   pages alone. Memory ahead of the head stays below twice the budget plus, per window, how
   much its page outgrew the estimate, and the head's own below two pages;
   it does not grow with the length of the history nor with a slow consumer.
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

from tap_spinvoices.sync.events import Page, PartDone

W = TypeVar("W")
R = TypeVar("R")


@dataclass
class _Slot(Generic[R]):
    pages: deque[Page[R]] = field(default_factory=deque)
    held: int = 0  # bytes of ``pages``
    asking: bool = False  # a page has been asked for and has not arrived yet
    waiting: bool = False  # has a page to ask for, waits for the budget
    finished: bool = False
    error: BaseException | None = None


# Windows ahead of the head started before any page size is known (see page_estimate).
_WINDOWS_STARTED_BLIND = 4

FetchPages = Callable[[int, W], AsyncIterator[tuple[list[R], int]]]
Deliver = Callable[[Page[R] | PartDone], Awaitable[None]]


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
        # Bytes one more page is expected to take: the largest page seen so far, but never
        # less than an equal share of the budget per window in flight (so small pages let
        # every window run). Before the first page, pages may be huge: a quarter of the
        # budget each, so only the first few windows start blind.
        self.share_of_budget = buffer_bytes // max(1, max_in_flight)
        self.largest_page = 0
        self.page_estimate = max(self.share_of_budget, buffer_bytes // _WINDOWS_STARTED_BLIND)
        self.started = 0  # windows 0 .. started - 1 have been started
        self.failed = False
        self.tasks: list[asyncio.Task[None]] = []

    def may_fetch_ahead(self, index: int) -> bool:
        """Whether window ``index`` may ask for a page now (see rule 3 of the module doc)."""
        head = self.head
        estimate = self.page_estimate
        if index < head:
            return True
        if index == head:
            # Pages the consumer has not taken yet buy nothing beyond the next one.
            return self.slots[index].held <= self.largest_page
        if index == head + 1 and self.slots[index].held + estimate <= self.buffer_bytes:
            return True  # next in line: its pages are the next to be delivered
        claimed = estimate  # the page window ``index`` would ask for
        for ahead, slot in enumerate(self.slots[head + 1 : self.started], start=head + 1):
            if slot.waiting and ahead < index:
                return False  # a window nearer the head gets the budget first
            claimed += slot.held + (estimate if slot.asking else 0)
        return claimed <= self.buffer_bytes

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def fetch_one(self, index: int) -> None:
        slot = self.slots[index]
        try:
            async for records, size in self.fetch_pages(index, self.windows[index]):
                slot.asking = False
                slot.pages.append(Page(index, records, size))
                slot.held += size
                self.largest_page = max(self.largest_page, size)
                self.page_estimate = max(self.share_of_budget, self.largest_page)
                await self.notify()
                async with self.changed:
                    slot.waiting = True
                    await self.changed.wait_for(lambda: self.may_fetch_ahead(index))
                    slot.waiting = False
                    slot.asking = True
                    self.changed.notify_all()  # windows behind this one may go next
        except asyncio.CancelledError:
            slot.finished = True
            raise
        except Exception as exc:  # noqa: BLE001 - kept and re-raised at the window's turn
            slot.error = exc
            self.failed = True
        slot.asking = False
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
            self.slots[index].asking = True  # its first page, from now on
            self.started = index + 1
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
                    slot.held -= page.size
                    await self.notify()
                    await deliver(page)
                if slot.finished and not slot.pages:
                    break
            if slot.error is not None:
                raise slot.error
            await deliver(PartDone(index))


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
