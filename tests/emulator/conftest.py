"""Fixtures for the emulator's own tests: a small server, a fake clock and a plain HTTP client."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict

from spapi_emulator import EmulatorConfig, EmulatorServer
from spapi_emulator.isotime import format_iso8601

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from yarl import URL

DF_2021 = "/vendor/directFulfillment/shipping/2021-12-28/customerInvoices"
DF_V1 = "/vendor/directFulfillment/shipping/v1/customerInvoices"
START = datetime(2024, 1, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return format_iso8601(moment)


def day(n: int) -> datetime:
    """Midnight UTC of dataset day n."""
    return START + timedelta(days=n)


class FakeClock:
    """A monotonic clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    text: str

    @property
    def json(self) -> Any:
        return orjson.loads(self.text)

    @property
    def error(self) -> dict[str, str]:
        errors: list[dict[str, str]] = self.json["errors"]
        assert len(errors) == 1
        return errors[0]


def http_request(method: str, url: str | URL, **kwargs: Any) -> Reply:
    """Send one request from a fresh session and event loop; the body is read in full."""

    async def call() -> Reply:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, url, **kwargs) as response,
        ):
            text = await response.text()
            return Reply(response.status, CIMultiDict(response.headers), text)

    return asyncio.run(call())


class Api:
    """Blocking one-request-per-call client; every call runs its own short event loop."""

    def __init__(self, emu: EmulatorServer, clock: FakeClock) -> None:
        self.emu = emu
        self.clock = clock

    def request(self, method: str, url: str | URL, **kwargs: Any) -> Reply:
        return http_request(method, url, **kwargs)

    def lwa(self, **overrides: str | None) -> Reply:
        config = self.emu.config
        form: dict[str, str | None] = {
            "grant_type": "refresh_token",
            "refresh_token": config.refresh_token,
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        }
        form.update(overrides)
        data = {k: v for k, v in form.items() if v is not None}
        return self.request("POST", self.emu.url + "/auth/o2/token", data=data)

    def access_token(self) -> str:
        reply = self.lwa()
        assert reply.status == 200, reply.text
        return str(reply.json["access_token"])

    def rdt_reply(self, access_token: str, resources: list[dict[str, Any]]) -> Reply:
        return self.request(
            "POST",
            self.emu.url + "/tokens/2021-03-01/restrictedDataToken",
            json={"restrictedResources": resources},
            headers={"x-amz-access-token": access_token},
        )

    def rdt(self, path: str = DF_2021, access_token: str | None = None) -> str:
        token = access_token or self.access_token()
        reply = self.rdt_reply(token, [{"method": "GET", "path": path}])
        assert reply.status == 200, reply.text
        return str(reply.json["restrictedDataToken"])

    def invoices(self, token: str, path: str = DF_2021, **params: str) -> Reply:
        return self.request(
            "GET", self.emu.url + path, params=params, headers={"x-amz-access-token": token}
        )

    def sync(self, token: str, path: str = DF_2021, **params: str) -> list[dict[str, str]]:
        """Follow nextTokens to the end; return every customer invoice in page order.

        Pages are paced at the real 10 requests per second on the fake clock, so long syncs
        stay inside the getCustomerInvoices bucket without sleeping.
        """
        found: list[dict[str, str]] = []
        query = dict(params)
        while True:
            self.clock.advance(0.1)
            reply = self.invoices(token, path, **query)
            assert reply.status == 200, reply.text
            body = reply.json["payload"] if path == DF_V1 else reply.json
            found.extend(body["customerInvoices"])
            next_token = body.get("pagination", {}).get("nextToken")
            if next_token is None:
                return found
            query["nextToken"] = next_token


def small_config(**changes: Any) -> EmulatorConfig:
    """Fourteen days, 60 invoices per party-day, a whole-hour stamp every 10th, tiny PDFs."""
    settings: dict[str, Any] = {
        "days": 14,
        "invoices_per_day": 60,
        "boundary_every": 10,
        "content_bytes": 64,
    }
    settings.update(changes)
    return EmulatorConfig(**settings)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_emulator(clock: FakeClock) -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators on 127.0.0.1:0 with the fake clock; all are closed after the test."""
    started: list[EmulatorServer] = []

    def make(**changes: Any) -> EmulatorServer:
        emu = EmulatorServer(small_config(**changes), clock=clock).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.close()


@pytest.fixture
def emu(make_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    return make_emulator()


@pytest.fixture
def api(emu: EmulatorServer, clock: FakeClock) -> Api:
    return Api(emu, clock)
