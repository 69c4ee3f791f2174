"""Per-operation request budgets that mirror Amazon's token buckets (SP-API usage plans).

Amazon refills each operation's bucket at ``rate`` requests per second up to ``burst``; an
empty bucket answers 429
(https://developer-docs.amazon.com/sp-api/docs/usage-plans-and-rate-limits; the plans are in
operations.py). One limiter per operation, shared by every task of the event loop, keeps us
inside that bucket. Limiters belong to one loop (aiolimiter warns on
reuse), so ``OperationBudgets`` is built inside each loop, and a thread-safe
``BudgetLedger`` carries each bucket's level and rate from one loop to the next.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiolimiter import AsyncLimiter
from typing_extensions import override

from tap_spinvoices.spapi.operations import USAGE_PLANS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from tap_spinvoices.spapi.operations import UsagePlan

__all__ = [
    "ARRIVAL_SPREAD_S",
    "BucketSnapshot",
    "BudgetLedger",
    "OperationBudgets",
    "TokenBucketLimiter",
    "paced_plan",
]

LOGGER = logging.getLogger(__name__)


# x-amzn-RateLimit-Limit is rounded ("0.0167" for 1/60): smaller differences are not news.
_RATE_TOLERANCE = 0.01

# Amazon's bucket counts requests when they arrive, not when we send them. Requests that
# leave at exactly the bucket's pace reach it bunched by the spread of their network delay:
# in any stretch of time, up to ``rate x spread`` more of them than the bucket refills
# (benchmarks/README.md: 4 x 429 per run without a margin, against latencies of 150-450 ms).
# Keeping that many requests out of the burst absorbs the bunching for good; it costs about
# ``spread`` seconds once per run, not a share of the rate.
ARRIVAL_SPREAD_S = 0.3

# Float error in a bucket level, in requests (see TokenBucketLimiter._leak).
_LEVEL_DUST = 1e-9


def paced_plan(rate: float, burst: float, spread_s: float) -> tuple[float, float]:
    """Return the (rate, burst) to pace at so arrivals ``spread_s`` apart never overflow.

    Requests sent within any ``T`` seconds arrive within ``T + spread_s`` at the latest, so a
    client bucket of ``burst - rate x spread_s`` (rounded down) at the full ``rate`` never
    exceeds Amazon's ``burst + rate x T``. When that would leave less than one request of burst:

    - slow operations (one request every ``spread_s`` or slower, e.g. one a minute) keep their
      burst and wait ``spread_s`` longer per bucket refill, a few per cent of their rate;
    - fast ones with a tiny burst keep their rate with a burst of one: protecting them fully
      would cost most of their rate, so the rare 429 is left to the retry path.

    Args:
        rate: Requests per second the bucket refills (share applied).
        burst: Bucket size (share applied), at least one.
        spread_s: Spread of the arrival delay to absorb, in seconds (0: pace exactly).

    Returns:
        The (rate, burst) for ``TokenBucketLimiter``.

    """
    margin = rate * spread_s
    # Whole requests (a fractional level makes the limiter's waits round to nothing), and
    # 10 - 10 x 0.3 is 6.999999999999999: forgive the float error before flooring.
    kept = math.floor(burst - margin + 1e-9)
    if kept >= 1:
        return rate, float(kept)
    if margin <= 1:
        return burst / (burst / rate + spread_s), burst
    return rate, 1.0


class TokenBucketLimiter(AsyncLimiter):
    """An ``AsyncLimiter`` that can report its level and change its rate in place.

    ``AsyncLimiter(max_rate=burst, time_period=burst / rate)`` is Amazon's token bucket
    seen from the other side: its *level* is the capacity in use (0 = a full burst
    available, ``max_rate`` = Amazon's bucket empty) and it drains at ``rate`` per second.

    This subclass is the only code that touches aiolimiter internals (``_leak``, ``_level``,
    ``_rate_per_sec``, ``_wake_next``, stable through 1.x; pyproject pins ``<2`` and
    tests/unit/test_ratelimits.py pins the behaviour): there is no public way to read the
    level or retune a limiter that has tasks waiting on it.
    """

    __slots__ = ()

    def __init__(self, rate: float, burst: float) -> None:
        """Build a bucket of ``burst`` requests refilling at ``rate`` requests per second."""
        super().__init__(max_rate=burst, time_period=burst / rate)
        # Exactly ``rate``: burst / (burst / rate) can be off by an ulp, and a refill a hair
        # short of one request makes the limiter wait for a few nanoseconds over and over.
        self._rate_per_sec = rate

    @property
    def rate(self) -> float:
        """Requests per second the bucket refills."""
        return self._rate_per_sec

    @override
    def _leak(self) -> None:
        """Refill, then drop float dust: 6.000000000000002 requests in use is 6."""
        super()._leak()
        # Without this, a level an ulp above a whole request asks for a wait of ~1e-16 s,
        # which the clock cannot express: the waiter spins until the clock next ticks.
        whole = round(self._level)
        if abs(self._level - whole) < _LEVEL_DUST:
            self._level = float(whole)

    def level(self) -> float:
        """Capacity in use now, after the refill since the last check."""
        self._leak()
        return self._level

    def retune(self, rate: float, burst: float | None = None) -> None:
        """Refill at ``rate`` (up to ``burst``) from now on; waiting tasks are rescheduled."""
        self._leak()  # settle the refill earned at the old rate first
        if burst is not None and burst != self.max_rate:
            # Same capacity in use, as far as the new bucket can hold it.
            self._level = min(self._level, burst)
            self.max_rate = burst
        self._rate_per_sec = rate
        self.time_period = self.max_rate / rate
        self._wake_next()  # re-arm the waiters' timer for the new rate

    def drain(self) -> None:
        """Mark the bucket empty: Amazon answered 429, so no capacity is left right now."""
        self._leak()
        self._level = self.max_rate
        self._wake_next()


@dataclass(frozen=True, slots=True)
class BucketSnapshot:
    """One operation's bucket as a closing event loop left it."""

    level: float  #: capacity in use (requests), 0 = full burst available
    partner_rate: float  #: req/s Amazon grants this selling partner (plan or header), before share
    recorded_at: float  #: the ledger's monotonic clock when recorded


class BudgetLedger:
    """Thread-safe record of every operation's bucket, carried from one event loop to the next.

    Create one per tap run. Without it, each partition's loop would start with a full burst
    that Amazon no longer has and collect 429s for it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Build an empty ledger; ``clock`` must be monotonic (and match the loops' in tests)."""
        self.clock = clock
        self._lock = threading.Lock()
        self._snapshots: dict[str, BucketSnapshot] = {}

    def record(self, operation: str, *, level: float, partner_rate: float) -> None:
        """Remember ``operation``'s bucket level and rate as of now."""
        snapshot = BucketSnapshot(level=level, partner_rate=partner_rate, recorded_at=self.clock())
        with self._lock:
            self._snapshots[operation] = snapshot

    def snapshot(self, operation: str) -> BucketSnapshot | None:
        """Return the last record for ``operation``, if any."""
        with self._lock:
            return self._snapshots.get(operation)


class OperationBudgets:
    """One token-bucket limiter per SP-API operation for the running event loop.

    Example::

        budgets = OperationBudgets(share=0.5, ledger=ledger)  # inside the running loop
        try:
            await budgets.acquire("getCustomerInvoices")  # before every attempt
            budgets.observe_rate_limit("getCustomerInvoices", response.headers.get(...))
        finally:
            budgets.close()  # before the loop ends: hands the levels to the next loop
    """

    def __init__(
        self,
        plans: Mapping[str, UsagePlan] = USAGE_PLANS,
        *,
        share: float = 1.0,
        ledger: BudgetLedger | None = None,
        spread_s: float = ARRIVAL_SPREAD_S,
    ) -> None:
        """Build the budgets.

        Args:
            plans: Usage plan per operationId.
            share: Fraction (0 < share <= 1) of each quota this tap may use; a quota belongs
                to one selling partner and one application, so only copies of this tap run
                with the same app for the same selling partner share it
                (rate_budget_percent).
            ledger: Carries levels and rates across event loops; None starts full.
            spread_s: Spread of network delay the pacing absorbs (see ``paced_plan``);
                0 paces exactly at Amazon's bucket.

        Raises:
            ValueError: If ``share`` is outside (0, 1] or ``spread_s`` is negative.

        """
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share!r}")
        if not spread_s >= 0:
            raise ValueError(f"spread_s must be >= 0, got {spread_s!r}")
        self._plans = plans
        self._share = share
        self._ledger = ledger
        self._spread_s = spread_s
        self._limiters: dict[str, TokenBucketLimiter] = {}
        self._partner_rates: dict[str, float] = {}  # the rate Amazon grants, before share

    async def acquire(self, operation: str) -> None:
        """Wait until ``operation`` may send one request, then take it from the budget.

        Raises:
            ValueError: If ``operation`` has no usage plan.

        """
        limiter = self._limiters.get(operation)
        if limiter is None:
            limiter = self._limiters[operation] = self._new_limiter(operation)
            carried = self._carried_level(operation, limiter)
            if carried > 0:
                # A fresh bucket has room for its whole burst: this never waits.
                await limiter.acquire(carried)
        await limiter.acquire()

    def rate(self, operation: str) -> float:
        """Return the requests per second ``operation`` is paced at (share applied)."""
        return self._partner_rate(operation) * self._share

    def observe_rate_limit(self, operation: str, header_value: str | None) -> None:
        """Adopt the rate Amazon announced in x-amzn-RateLimit-Limit (requests per second).

        The header is "returned on a best-effort basis"
        (https://developer-docs.amazon.com/sp-api/docs/response-format); missing or unusable values
        are ignored. A higher rate is used at once, a lower one slows the operation down.
        """
        if header_value is None or operation not in self._plans:
            return
        try:
            partner_rate = float(header_value)
        except ValueError:
            partner_rate = math.nan
        if not math.isfinite(partner_rate) or partner_rate <= 0:
            LOGGER.debug("%s: ignoring x-amzn-RateLimit-Limit %r", operation, header_value[:40])
            return
        current = self._partner_rate(operation)
        if math.isclose(partner_rate, current, rel_tol=_RATE_TOLERANCE):
            return
        LOGGER.info(
            "%s: Amazon grants %.4g requests/s (x-amzn-RateLimit-Limit), pacing at %.4g",
            operation,
            partner_rate,
            partner_rate * self._share,
        )
        self._partner_rates[operation] = partner_rate
        if (limiter := self._limiters.get(operation)) is not None:
            rate, burst = self._paced(operation)
            limiter.retune(rate, burst)

    def note_throttled(self, operation: str) -> None:
        """Empty ``operation``'s bucket after a 429, so other tasks wait for the refill."""
        if (limiter := self._limiters.get(operation)) is not None:
            limiter.drain()

    def close(self) -> None:
        """Write every bucket to the ledger; call it while the loop is still running."""
        if self._ledger is None:
            return
        for operation, limiter in self._limiters.items():
            self._ledger.record(
                operation, level=limiter.level(), partner_rate=self._partner_rate(operation)
            )

    def _plan(self, operation: str) -> UsagePlan:
        try:
            return self._plans[operation]
        except KeyError:
            raise ValueError(f"no usage plan for SP-API operation {operation!r}") from None

    def _partner_rate(self, operation: str) -> float:
        if operation not in self._partner_rates:
            snapshot = self._ledger.snapshot(operation) if self._ledger else None
            planned = self._plan(operation).rate
            self._partner_rates[operation] = snapshot.partner_rate if snapshot else planned
        return self._partner_rates[operation]

    def _paced(self, operation: str) -> tuple[float, float]:
        burst = max(1, math.floor(self._plan(operation).burst * self._share))
        return paced_plan(self.rate(operation), burst, self._spread_s)

    def _new_limiter(self, operation: str) -> TokenBucketLimiter:
        rate, burst = self._paced(operation)
        return TokenBucketLimiter(rate=rate, burst=burst)

    def _carried_level(self, operation: str, limiter: TokenBucketLimiter) -> float:
        """Level left by the previous loop, minus what refilled since (0 without a ledger)."""
        snapshot = self._ledger.snapshot(operation) if self._ledger else None
        if snapshot is None or self._ledger is None:
            return 0.0
        refilled = (self._ledger.clock() - snapshot.recorded_at) * limiter.rate
        return min(max(snapshot.level - refilled, 0.0), limiter.max_rate)
