"""Specifications of in-order delivery of concurrently fetched windows."""

import asyncio

import pytest

from tap_spinvoices.sync.events import Page, PartDone
from tap_spinvoices.sync.ordered_fetch import fetch_in_order


class ScriptedWindows:
    """Fetchers whose pages are released by the test, to force any completion order."""

    def __init__(self, pages_per_window: list[int], page_size: int = 10):
        self.pages_per_window = pages_per_window
        self.page_size = page_size
        self.gates = [asyncio.Event() for _ in pages_per_window]
        self.started: list[int] = []
        self.pages_fetched = [0] * len(pages_per_window)

    async def fetch(self, index, _window):
        self.started.append(index)
        await self.gates[index].wait()
        for page in range(self.pages_per_window[index]):
            self.pages_fetched[index] += 1
            yield [f"w{index}p{page}"], self.page_size
            await asyncio.sleep(0)


async def _run(script, *, max_in_flight=4, buffer_bytes=10_000, release_order=None):
    delivered = []

    async def deliver(event):
        delivered.append(event)
        await asyncio.sleep(0)

    task = asyncio.create_task(
        fetch_in_order(
            list(range(len(script.gates))),
            script.fetch,
            deliver,
            max_in_flight=max_in_flight,
            buffer_bytes=buffer_bytes,
        )
    )
    for index in release_order or range(len(script.gates)):
        await asyncio.sleep(0)
        script.gates[index].set()
        for _ in range(20):
            await asyncio.sleep(0)
    await task
    return delivered


def _shape(delivered):
    return [
        ("page", e.part, e.items[0]) if isinstance(e, Page) else ("done", e.part) for e in delivered
    ]


def test_windows_finishing_in_reverse_are_delivered_in_window_order():
    script = ScriptedWindows([2, 1, 2])
    delivered = asyncio.run(_run(script, release_order=[2, 1, 0]))
    assert _shape(delivered) == [
        ("page", 0, "w0p0"),
        ("page", 0, "w0p1"),
        ("done", 0),
        ("page", 1, "w1p0"),
        ("done", 1),
        ("page", 2, "w2p0"),
        ("page", 2, "w2p1"),
        ("done", 2),
    ]


def test_window_done_never_precedes_a_page_of_an_earlier_window():
    script = ScriptedWindows([3, 0, 5, 1, 2, 0, 4])
    delivered = asyncio.run(_run(script, max_in_flight=3, release_order=[6, 4, 2, 0, 5, 3, 1]))
    done_so_far = -1
    for event in delivered:
        if isinstance(event, PartDone):
            assert event.part == done_so_far + 1
            done_so_far = event.part
        else:
            assert event.part == done_so_far + 1
    assert done_so_far == 6


def test_no_more_than_max_in_flight_windows_start_before_one_finishes():
    async def scenario():
        script = ScriptedWindows([1] * 10)
        task = asyncio.create_task(
            fetch_in_order(
                list(range(10)), script.fetch, _ignore, max_in_flight=3, buffer_bytes=10_000
            )
        )
        for _ in range(20):
            await asyncio.sleep(0)
        started_before_release = list(script.started)
        for gate in script.gates:
            gate.set()
        await task
        return started_before_release

    assert asyncio.run(scenario()) == [0, 1, 2]


def test_windows_ahead_of_their_turn_pause_when_the_buffer_is_full():
    async def scenario():
        script = ScriptedWindows([1, 50, 50], page_size=100)
        task = asyncio.create_task(
            fetch_in_order(list(range(3)), script.fetch, _ignore, max_in_flight=3, buffer_bytes=300)
        )
        script.gates[1].set()
        script.gates[2].set()
        for _ in range(200):
            await asyncio.sleep(0)
        ahead = script.pages_fetched[1] + script.pages_fetched[2]
        script.gates[0].set()
        await task
        return ahead, script.pages_fetched

    ahead, fetched = asyncio.run(scenario())
    # Budget 300 B of 100 B pages: at most 3 buffered pages plus one in flight per window.
    assert ahead <= 5
    assert fetched == [1, 50, 50]


def test_the_budget_goes_to_the_windows_nearest_the_head_first():
    async def scenario():
        script = ScriptedWindows([1, 50, 50], page_size=100)
        task = asyncio.create_task(
            fetch_in_order(list(range(3)), script.fetch, _ignore, max_in_flight=3, buffer_bytes=300)
        )
        script.gates[2].set()  # the far window is ready first
        for _ in range(50):
            await asyncio.sleep(0)
        script.gates[1].set()
        for _ in range(200):
            await asyncio.sleep(0)
        ahead = list(script.pages_fetched)
        script.gates[0].set()
        await task
        return ahead, script.pages_fetched

    ahead, fetched = asyncio.run(scenario())
    # Window 2 took the budget while window 1 was not ready; once window 1 waits for more,
    # window 2 asks for nothing: the nearer window is first in line for freed budget.
    assert ahead[2] <= 3
    assert ahead[1] >= 1
    assert fetched == [1, 50, 50]


def test_a_full_budget_keeps_the_next_window_moving_not_the_far_ones():
    # Window 0 is a long chain; windows 1..3 are ready at once and each have 5 pages.
    script = ScriptedWindows([3, 5, 5, 5], page_size=100)
    ahead = asyncio.run(_pages_fetched_while_the_head_waits(script, buffer_bytes=400))
    fetched = script.pages_fetched
    # 400 B of 100 B pages ahead of the head: the window next in line holds the most.
    assert ahead[1] >= ahead[2] >= ahead[3]
    assert ahead[1] >= 2
    assert sum(ahead[1:]) <= 4 + 3  # the budget, plus one page per window beyond it
    assert fetched == [3, 5, 5, 5]


def test_memory_ahead_stays_within_twice_the_budget_plus_one_page_per_window():
    async def scenario():
        peak = 0
        script = ScriptedWindows([20] * 8, page_size=100)
        held = {}

        async def deliver(event):
            if isinstance(event, Page):
                held[event.part] -= event.size
            await asyncio.sleep(0)

        original = script.fetch

        async def fetch(index, window):
            nonlocal peak
            async for records, size in original(index, window):
                held[index] = held.get(index, 0) + size
                peak = max(peak, sum(held.values()))
                yield records, size

        task = asyncio.create_task(
            fetch_in_order(list(range(8)), fetch, deliver, max_in_flight=8, buffer_bytes=500)
        )
        for gate in reversed(script.gates):
            gate.set()
            for _ in range(30):
                await asyncio.sleep(0)
        await task
        return peak

    # The budget for all windows ahead, the budget again for the window next in line, and
    # what the first pages outgrew the estimate by (budget / 8 each) before any was seen.
    assert asyncio.run(scenario()) <= 2 * 500 + 8 * 100


def test_the_window_next_in_line_keeps_moving_when_parked_pages_fill_the_budget():
    # Four windows each park a 150 B page (estimate before any page: 400 / 4 = 100 B),
    # which fills the 400 B budget; the head (window 0) is a long chain.
    script = ScriptedWindows([1, 4, 4, 4], page_size=150)
    ahead = asyncio.run(_pages_fetched_while_the_head_waits(script, buffer_bytes=400))
    assert ahead[1] == 2  # 300 B + the next 150 B would pass 400 B: it stops at two
    assert ahead[2:] == [1, 1]  # the others wait: everything ahead is over the budget


def test_the_head_pauses_when_its_pages_wait_for_a_slow_consumer():
    async def scenario():
        script = ScriptedWindows([50], page_size=100)
        taken = asyncio.Event()
        delivered = []

        async def slow_deliver(event):
            delivered.append(event)
            await taken.wait()  # the consumer takes nothing until the test says so

        script.gates[0].set()
        task = asyncio.create_task(
            fetch_in_order([0], script.fetch, slow_deliver, max_in_flight=1, buffer_bytes=400)
        )
        for _ in range(200):
            await asyncio.sleep(0)
        while_blocked = script.pages_fetched[0]
        taken.set()
        await task
        return while_blocked, len(delivered)

    while_blocked, delivered = asyncio.run(scenario())
    # One page handed over (being taken), two held: the head asks for no more meanwhile.
    assert while_blocked <= 1 + 2
    assert delivered == 51  # 50 pages and the window's end: nothing lost by pausing


def test_failed_window_raises_after_earlier_windows_are_delivered():
    async def failing(index, _window):
        if index == 2:
            raise RuntimeError("window 2 broke")
        yield [f"w{index}"], 1

    delivered = []

    async def deliver(event):
        delivered.append(event)

    with pytest.raises(RuntimeError, match="window 2 broke"):
        asyncio.run(
            fetch_in_order(list(range(6)), failing, deliver, max_in_flight=2, buffer_bytes=100)
        )
    assert [e.part for e in delivered if isinstance(e, PartDone)] == [0, 1]


def test_cancelling_the_walk_cancels_every_fetch():
    async def scenario():
        script = ScriptedWindows([1] * 5)
        task = asyncio.create_task(
            fetch_in_order(list(range(5)), script.fetch, _ignore, max_in_flight=5, buffer_bytes=10)
        )
        for _ in range(10):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(scenario()) == []


def test_empty_list_of_windows_delivers_nothing():
    delivered = []

    async def deliver(event):
        delivered.append(event)

    asyncio.run(fetch_in_order([], _never, deliver, max_in_flight=2, buffer_bytes=10))
    assert delivered == []


async def _pages_fetched_while_the_head_waits(script, *, buffer_bytes):
    """Pages each window fetched while window 0 was held back; then let everything finish."""
    count = len(script.gates)
    task = asyncio.create_task(
        fetch_in_order(
            list(range(count)),
            script.fetch,
            _ignore,
            max_in_flight=count,
            buffer_bytes=buffer_bytes,
        )
    )
    for gate in script.gates[1:]:
        gate.set()
    for _ in range(300):
        await asyncio.sleep(0)
    ahead = list(script.pages_fetched)
    script.gates[0].set()
    await task
    return ahead


async def _ignore(_event):
    return None


async def _never(_index, _window):
    raise AssertionError("no window to fetch")
    yield
