"""Specification of gate.py: requests held at a point of the client's progress, not of time."""

from __future__ import annotations

import asyncio

import pytest

from spapi_emulator.gate import RequestGate


async def arrive(gate: RequestGate, count: int) -> list[asyncio.Task[None]]:
    """``count`` requests reach the gate in order; return them once each passed or is held."""
    requests = []
    for _ in range(count):
        requests.append(asyncio.create_task(gate.pass_through()))
        await asyncio.sleep(0)  # this one reaches the gate before the next
    await asyncio.sleep(0)
    return requests


async def settle() -> None:
    """Let released requests run: the release is scheduled thread-safely, then it resumes."""
    for _ in range(3):
        await asyncio.sleep(0)


def passed(requests: list[asyncio.Task[None]]) -> list[bool]:
    return [r.done() for r in requests]


def test_an_unarmed_gate_lets_every_request_through():
    async def scenario() -> tuple[list[bool], int, int]:
        gate = RequestGate()
        requests = await arrive(gate, 3)
        return passed(requests), gate.arrived(), gate.held()

    assert asyncio.run(scenario()) == ([True, True, True], 3, 0)


def test_after_the_given_count_every_request_is_held():
    async def scenario() -> tuple[list[bool], int]:
        gate = RequestGate()
        gate.hold_after(2)
        requests = await arrive(gate, 4)
        result = passed(requests), gate.held()
        gate.open()
        await asyncio.gather(*requests)
        return result

    assert asyncio.run(scenario()) == ([True, True, False, False], 2)


def test_hold_after_zero_holds_the_very_next_request():
    async def scenario() -> list[bool]:
        gate = RequestGate()
        gate.hold_after(0)
        requests = await arrive(gate, 1)
        result = passed(requests)
        gate.open()
        await asyncio.gather(*requests)
        return result

    assert asyncio.run(scenario()) == [False]


def test_arming_again_releases_the_held_and_counts_from_now():
    async def scenario() -> tuple[list[bool], list[bool], int]:
        gate = RequestGate()
        gate.hold_after(1)
        first = await arrive(gate, 2)
        gate.hold_after(1)
        await settle()
        second = await arrive(gate, 2)
        result = passed(first), passed(second), gate.held()
        gate.open()
        await asyncio.gather(*first, *second)
        return result

    assert asyncio.run(scenario()) == ([True, True], [True, False], 1)


def test_opening_releases_every_held_request():
    async def scenario() -> tuple[list[bool], int]:
        gate = RequestGate()
        gate.hold_after(0)
        requests = await arrive(gate, 3)
        gate.open()
        await settle()
        return passed(requests), gate.held()

    assert asyncio.run(scenario()) == ([True, True, True], 0)


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError, match="count must be >= 0"):
        RequestGate().hold_after(-1)
