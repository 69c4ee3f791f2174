"""Specifications of the ordered stage: work runs at once, items leave in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from tap_spinvoices.sync.ordered_stage import OrderedStage


class Gates:
    """Work whose completion the test releases, one item at a time, in any order."""

    def __init__(self) -> None:
        self.events: dict[str, asyncio.Event] = {}
        self.started: list[str] = []
        self.delivered: list[str] = []

    def work(self, item: str):
        if item.startswith("marker"):
            return None
        self.events[item] = asyncio.Event()
        self.started.append(item)
        return self._wait(item)

    async def _wait(self, item: str) -> None:
        await self.events[item].wait()
        if item.startswith("bad"):
            raise ValueError(item)

    async def deliver(self, item: str) -> None:
        self.delivered.append(item)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_items_leave_in_arrival_order_whatever_order_their_work_ends():
    async def scenario():
        gates = Gates()
        async with OrderedStage(gates.work, gates.deliver, max_pending=8) as stage:
            for item in ("a", "marker-1", "b", "c"):
                await stage.put(item)
            await settle()
            assert gates.started == ["a", "b", "c"]  # every item's work runs at once
            gates.events["c"].set()
            gates.events["b"].set()
            await settle()
            assert gates.delivered == []  # "a" is still working: nothing may pass it
            gates.events["a"].set()
            await stage.finish()
        return gates.delivered

    assert asyncio.run(scenario()) == ["a", "marker-1", "b", "c"]


def test_put_waits_while_max_pending_items_wait_to_leave():
    async def scenario():
        gates = Gates()
        async with OrderedStage(gates.work, gates.deliver, max_pending=2) as stage:
            for item in ("a", "b", "c"):
                await stage.put(item)  # "a" is taken by the forwarder, "b" and "c" wait
            fourth = asyncio.ensure_future(stage.put("d"))
            await settle()
            waited = not fourth.done()
            gates.events["a"].set()
            await settle()
            admitted = fourth.done()
            for item in ("b", "c", "d"):
                gates.events[item].set()
            await stage.finish()
        return waited, admitted, gates.delivered

    assert asyncio.run(scenario()) == (True, True, ["a", "b", "c", "d"])


def test_a_failed_work_stops_the_stage_after_the_items_before_it():
    async def scenario():
        gates = Gates()
        async with OrderedStage(gates.work, gates.deliver, max_pending=8) as stage:
            for item in ("a", "marker-1", "bad-b", "c"):
                await stage.put(item)
            for item in ("a", "bad-b", "c"):
                gates.events[item].set()
            with pytest.raises(ValueError, match="bad-b"):
                await stage.finish()
        return gates.delivered

    assert asyncio.run(scenario()) == ["a", "marker-1"]


def test_put_after_a_failure_raises_that_failure():
    async def scenario():
        gates = Gates()
        async with OrderedStage(gates.work, gates.deliver, max_pending=8) as stage:
            await stage.put("bad-a")
            gates.events["bad-a"].set()
            await settle()
            with pytest.raises(ValueError, match="bad-a"):
                await stage.put("b")
            return gates.events["b"].is_set() if "b" in gates.events else None

    assert asyncio.run(scenario()) is False  # "b"'s work was started, then cancelled


def test_leaving_the_stage_early_cancels_the_work_under_way():
    async def scenario():
        gates = Gates()
        cancelled: list[str] = []

        def work(item: str):
            async def run() -> None:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    cancelled.append(item)
                    raise

            return run()

        async with OrderedStage(work, gates.deliver, max_pending=8) as stage:
            await stage.put("a")
            await stage.put("b")
            await settle()
        await settle()
        return sorted(cancelled)

    assert asyncio.run(scenario()) == ["a", "b"]
