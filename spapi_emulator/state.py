"""The emulator's live state: config, dataset, tokens, buckets, faults, paging and counters."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from spapi_emulator.buckets import RateLimiter
from spapi_emulator.config import EmulatorConfig
from spapi_emulator.faults import FaultInjector
from spapi_emulator.gate import RequestGate
from spapi_emulator.invoices.exports import InvoicesApi
from spapi_emulator.paging import NextTokenCodec
from spapi_emulator.stats import Stats
from spapi_emulator.tokens import TokenStore
from spapi_emulator.vendor.dataset import Dataset

if TYPE_CHECKING:
    from collections.abc import Callable


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EmulatorState:
    """Everything one emulator instance knows; shared by its handlers.

    Attributes:
        config: The live config; change fault and limit fields at any time.
        dataset: The seeded invoices.
        invoices_api: The Invoices API's seeded invoices, live exports and documents.
        tokens: Issued LWA access tokens and RDTs.
        limiter: Per-operation token buckets.
        faults: Latency and fault dice.
        next_tokens: nextToken codec.
        stats: Request counters.
        gate: Holds requests at a point of the client's progress that a test chooses.
        clock: Monotonic clock (seconds) behind buckets, token and nextToken expiry.
        wall_clock: Real "now" (aware) that createdBefore may not exceed.

    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        """Build the state; the datasets are generated here.

        Args:
            config: Emulator settings; defaults to ``EmulatorConfig()``.
            clock: Monotonic clock in seconds; inject a fake one to test expiry and refills.
            wall_clock: Returns the current aware datetime.

        """
        self.config = config if config is not None else EmulatorConfig()
        self.clock = clock
        self.wall_clock = wall_clock
        self.dataset = Dataset(self.config)
        self.invoices_api = InvoicesApi(self.config, clock=clock, wall_clock=wall_clock)
        self.tokens = TokenStore(clock)
        self.limiter = RateLimiter(self.config, clock)
        self.faults = FaultInjector(self.config)
        self.next_tokens = NextTokenCodec(clock)
        self.stats = Stats()
        self.gate = RequestGate()

    def issued_secrets(self) -> list[str]:
        """Return every secret a client could leak: issued tokens and the LWA credentials.

        Returns:
            Every access token and RDT ever issued, then the client secret and refresh token.

        """
        return [*self.tokens.issued(), self.config.client_secret, self.config.refresh_token]

    def stats_snapshot(self) -> dict[str, object]:
        """Return the counters and the server-side bucket settings, JSON-ready.

        Returns:
            {"operations": per-operation counters, "rate_limits": per-operation buckets}.

        """
        return {"operations": self.stats.snapshot(), "rate_limits": self.limiter.settings()}
