"""Opt-in faults and latency: the failures a resilient SP-API client has to survive."""

from __future__ import annotations

import enum
import random
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spapi_emulator.config import EmulatorConfig, LiveConfig

_MS_PER_SECOND = 1000.0


class Fault(enum.Enum):
    """What to do to one SP-API request before it is handled."""

    NONE = "none"
    RESET = "reset"  # abort the connection without a response
    INTERNAL_ERROR = "500"  # 500 InternalFailure
    SERVICE_UNAVAILABLE = "503"  # 503 "Temporary overloading or maintenance of the server."


class FaultInjector:
    """Seeded dice for latency and faults, reading the live config on every request.

    A rate of 0 never rolls the dice, so enabling one fault does not shift the others'
    sequence. Under concurrency the order of requests is not deterministic, so neither is
    which request gets a fault; only the proportions are.
    """

    def __init__(self, live: LiveConfig) -> None:
        """Create the dice from the config's seed.

        Args:
            live: The emulator config in force, read on every request.

        """
        self._live = live
        # Not security relevant: reproducible fault and latency sequences.
        self._rng = random.Random(f"{live.current.seed}:faults")  # noqa: S311
        self._rdt_503_done = False
        self._answers = 0  # getCustomerInvoices answers counted for shapeless_body_every
        self._tokens_seen = 0  # requests carrying a nextToken, for refuse_next_tokens
        self._lock = threading.Lock()

    def latency_seconds(self) -> float:
        """Return this request's added latency in seconds (uniform over ``latency_ms``)."""
        low, high = self._config.latency_ms
        if high <= 0:
            return 0.0
        return self._rng.uniform(low, high) / _MS_PER_SECOND

    def slow_seconds(self) -> float:
        """Return how long this request stalls before answering (``slow_rate``), or 0."""
        if self._roll(self._config.slow_rate):
            return self._config.slow_seconds
        return 0.0

    def draw(self) -> Fault:
        """Decide this request's fault: a reset, a 5xx, or none."""
        if self._roll(self._config.fault_reset_rate):
            return Fault.RESET
        if self._roll(self._config.fault_5xx_rate):
            return self._rng.choice((Fault.INTERNAL_ERROR, Fault.SERVICE_UNAVAILABLE))
        return Fault.NONE

    def malformed(self) -> bool:
        """Decide whether this 200 answer gets a truncated JSON body."""
        return self._roll(self._config.malformed_json_rate)

    def shapeless(self) -> bool:
        """Decide whether this getCustomerInvoices answer is a 200 ``{}``: every Nth one."""
        every = self._config.shapeless_body_every
        if every <= 0:
            return False
        with self._lock:
            self._answers += 1
            return self._answers % every == 0

    def refuse_next_token(self) -> bool:
        """Decide whether this request's nextToken is refused (``refuse_next_tokens``).

        Requests carrying a nextToken are counted over the run; the first
        ``refuse_next_tokens_after`` pass, the ``refuse_next_tokens`` after them are refused.
        """
        config = self._config
        with self._lock:
            number = self._tokens_seen
            self._tokens_seen += 1
        first = config.refuse_next_tokens_after
        return first <= number < first + config.refuse_next_tokens

    def take_rdt_503(self) -> bool:
        """Return True once: for the first RDT call made while ``rdt_fail_once_503`` is set."""
        with self._lock:
            fire = self._config.rdt_fail_once_503 and not self._rdt_503_done
            self._rdt_503_done = self._rdt_503_done or fire
        return fire

    @property
    def _config(self) -> EmulatorConfig:
        return self._live.current

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate
