"""Per-operation token buckets: the SP-API usage-plan model that answers 429 when empty."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from spapi_emulator.config import LiveConfig

# Clock readings are floats: 1000.0 + 0.01 - 1000.0 is a hair under 0.01, and a client that
# waited exactly 1/rate must not get a 429 for that.
_EPSILON = 1e-9


@dataclass
class TokenBucket:
    """A token bucket: refills at ``rate`` tokens per second up to ``burst``; a request takes one.

    SP-API usage plans work this way ("Usage Plans and Rate Limits"): a full bucket allows
    ``burst`` back-to-back requests, then ``rate`` per second.

    Attributes:
        rate: Tokens added per second.
        burst: Bucket capacity.
        tokens: Tokens available at ``updated``.
        updated: Clock reading of the last refill.

    """

    rate: float
    burst: int
    tokens: float
    updated: float

    def try_take(self, now: float) -> bool:
        """Refill up to ``now`` and take one token if there is one.

        Args:
            now: Current reading of the bucket's monotonic clock.

        Returns:
            True if the request may proceed, False if it must be throttled.

        """
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0 - _EPSILON:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False


class RateLimiter:
    """Lazily created buckets, one per operationId, following the live config.

    The bucket's rate and burst are re-read from the config on every request so tests can
    change ``rate_limits``, ``rate_limit_header`` or ``time_scale`` while the server runs; the
    tokens already in a bucket are kept (capped at the new burst).
    """

    def __init__(self, live: LiveConfig, clock: Callable[[], float]) -> None:
        """Create an empty registry.

        Args:
            live: The emulator config in force, read on every request.
            clock: Monotonic clock in seconds (injectable so tests need no sleeps).

        """
        self._live = live
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def try_acquire(self, operation: str) -> bool:
        """Take a token for one request of ``operation``.

        Args:
            operation: An operationId.

        Returns:
            True if the request may proceed; False means answer 429 QuotaExceeded. Operations
            without a usage plan, and every operation while ``throttle`` is off, always pass.

        """
        config = self._live.current
        plan = config.operation_rate(operation)
        if plan is None or not config.throttle:
            return True
        rate, burst = plan
        now = self._clock()
        bucket = self._buckets.get(operation)
        if bucket is None:
            bucket = TokenBucket(rate=rate, burst=burst, tokens=float(burst), updated=now)
            self._buckets[operation] = bucket
        else:
            bucket.rate, bucket.burst = rate, burst
        return bucket.try_take(now)

    def settings(self) -> dict[str, dict[str, float | int | bool]]:
        """Return every configured bucket's enforced rate, burst and current tokens.

        Returns:
            operationId -> {"rate", "burst", "tokens", "enforced"}; ``tokens`` is the burst for
            buckets that have not been used yet.

        """
        result: dict[str, dict[str, float | int | bool]] = {}
        config = self._live.current
        for operation in config.rate_limits:
            plan = config.operation_rate(operation)
            if plan is None:  # pragma: no cover - every key of rate_limits has a plan
                continue
            rate, burst = plan
            bucket = self._buckets.get(operation)
            tokens = float(burst) if bucket is None else bucket.tokens
            result[operation] = {
                "rate": rate,
                "burst": burst,
                "tokens": tokens,
                "enforced": config.throttle,
            }
        return result
