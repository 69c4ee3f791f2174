"""Shared helpers of the test_invoices_* modules (this module holds no tests).

The Invoices API tests run the emulator with the fake monotonic clock and a wall clock that
moves with it, starting the day after a 14-day dataset, so export lifecycles, default date
ranges and URL expiry are all driven by ``clock.advance``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from spapi_emulator import EmulatorServer

from .conftest import Reply, http_request, small_config

if TYPE_CHECKING:
    from .conftest import FakeClock

BR = "A2Q3Y263D00KWC"
API = "/tax/invoices/2024-06-19"
DATASET_START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 14
# Wall-clock "now" when the fake monotonic clock reads its start value (1000.0).
WALL_START = DATASET_START + timedelta(days=DAYS)
_CLOCK_START = 1000.0
INVALID = "Invalid Request."


def start(clock: FakeClock, **changes: Any) -> EmulatorServer:
    """Start an emulator: 14 days, 20 invoices a day, small XML, fake clocks."""
    settings: dict[str, Any] = {"nfe_xml_bytes": 2500, **changes}

    def wall_clock() -> datetime:
        return WALL_START + timedelta(seconds=clock.now - _CLOCK_START)

    return EmulatorServer(small_config(**settings), clock=clock, wall_clock=wall_clock).start()


def day(n: int) -> datetime:
    """Midnight UTC of dataset day n."""
    return DATASET_START + timedelta(days=n)


def iso(moment: datetime) -> str:
    """Millisecond UTC text, as a client sends it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def error(details: str, code: str = "400", message: str = INVALID) -> dict[str, Any]:
    """Return an Invoices API error body."""
    return {"errors": [{"code": code, "message": message, "details": details}]}


class Client:
    """Blocking Invoices API client with one LWA access token."""

    def __init__(self, emu: EmulatorServer, clock: FakeClock) -> None:
        self.emu = emu
        self.clock = clock
        self._token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            config = self.emu.config
            reply = http_request(
                "POST",
                self.emu.url + "/auth/o2/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": config.refresh_token,
                    "client_id": config.client_id,
                    "client_secret": config.client_secret,
                },
            )
            assert reply.status == 200, reply.text
            self._token = str(reply.json["access_token"])
        return self._token

    def get(self, path: str, **params: str) -> Reply:
        return self.get_as({"x-amz-access-token": self.token}, path, **params)

    def get_as(self, headers: dict[str, str], path: str, **params: str) -> Reply:
        return http_request("GET", self.emu.url + API + path, params=params, headers=headers)

    def post(self, path: str, body: object) -> Reply:
        headers = {"x-amz-access-token": self.token}
        return http_request("POST", self.emu.url + API + path, json=body, headers=headers)

    def sync(self, path: str, key: str, **params: str) -> tuple[list[dict[str, Any]], int]:
        """Follow nextTokens to the end, each with every first-call argument; items and pages."""
        found: list[dict[str, Any]] = []
        query = dict(params)
        pages = 0
        while True:
            reply = self.get(path, **query)
            assert reply.status == 200, reply.text
            pages += 1
            found.extend(reply.json[key])
            token = reply.json.get("nextToken")
            if token is None:
                return found, pages
            query = {**params, "nextToken": token}
