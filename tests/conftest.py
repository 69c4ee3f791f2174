"""Shared fixtures: emulators on 127.0.0.1 and what a sync of them must return."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from spapi_emulator import EmulatorConfig, EmulatorServer, Invoice
from tap_spinvoices.isotime import parse_datetime
from tests.builders import ConfigBuilder

# Fast by default: 20x time scale makes the emulator advertise (x-amzn-RateLimit-Limit) and
# enforce 200 requests/s for getCustomerInvoices, and the tap adapts to the header.
FAST_EMULATOR: dict[str, Any] = {
    "days": 70,
    "invoices_per_day": 24,
    "content_bytes": 600,
    "time_scale": 20.0,
}

EmulatorFactory = Callable[..., EmulatorServer]


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    servers: list[EmulatorServer] = []

    def start(**overrides: Any) -> EmulatorServer:
        server = EmulatorServer(EmulatorConfig(**{**FAST_EMULATOR, **overrides})).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> EmulatorServer:
    return emulator_factory()


def config_for(emu: EmulatorServer) -> ConfigBuilder:
    return ConfigBuilder(emu.url)


def expected_invoices(
    emu: EmulatorServer, start: str, end: str, parties: tuple[str, ...] | None = None
) -> list[Invoice]:
    """Invoices created in [start, end), as a complete sync must emit them."""
    lower = parse_datetime(start) - timedelta(microseconds=1)
    upper: datetime = parse_datetime(end)
    found: list[Invoice] = []
    for party in parties or (None,):
        found.extend(emu.dataset.invoices(lower, upper, party))
    return found


class JumpingClock:
    """The emulator's monotonic clock, which a test moves forward in one go.

    Every token, nextToken and bucket of the emulator ages at once, as if the tap had been
    stalled (throttled, paused, swapped out) for that long with its requests in the air.
    """

    def __init__(self) -> None:
        self._offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self._offset

    def jump(self, seconds: float) -> None:
        self._offset += seconds


@contextmanager
def emulator_on(clock: JumpingClock, **overrides: Any) -> Iterator[EmulatorServer]:
    server = EmulatorServer(EmulatorConfig(**{**FAST_EMULATOR, **overrides}), clock=clock)
    server.start()
    try:
        yield server
    finally:
        server.close()
