"""Specifications of the async-to-sync bridge."""

import asyncio
import threading

import pytest

from tap_spinvoices.sync.thread_bridge import items_from_io_thread


def test_items_arrive_in_order_and_the_worker_thread_ends():
    async def producer(deliver):
        for i in range(100):
            await deliver(i)

    assert list(items_from_io_thread(producer, max_pending=3)) == list(range(100))
    assert not [t for t in threading.enumerate() if t.name == "spinvoices-io"]


def test_producer_error_is_raised_in_the_consumer():
    async def producer(deliver):
        await deliver(1)
        raise ValueError("boom")

    items = []
    with pytest.raises(ValueError, match="boom"):
        items.extend(items_from_io_thread(producer))
    assert items == [1]


def test_closing_early_cancels_the_producer_and_runs_its_cleanup():
    cleaned = threading.Event()

    async def producer(deliver):
        try:
            i = 0
            while True:
                await deliver(i)
                i += 1
        finally:
            await asyncio.sleep(0)
            cleaned.set()

    stream = items_from_io_thread(producer, max_pending=2)
    assert next(stream) == 0
    assert next(stream) == 1
    stream.close()
    assert cleaned.is_set()
    assert not [t for t in threading.enumerate() if t.name == "spinvoices-io"]


def test_producer_runs_ahead_by_at_most_max_pending_items():
    delivered = []

    async def producer(deliver):
        for i in range(50):
            await deliver(i)
            delivered.append(i)

    stream = items_from_io_thread(producer, max_pending=4)
    next(stream)
    # Give the worker time to run ahead as far as it may.
    for _ in range(50):
        threading.Event().wait(0.001)
    ahead = len(delivered)
    stream.close()
    assert ahead <= 6
