"""Specification of ratelimits.py, timed on a virtual clock: no test sleeps for real.

``VirtualTimeLoop`` is aiolimiter's MockLoopTime idea taken one step further: the loop's
``time()`` is a number, and whenever the loop would block waiting for a timer, its selector
jumps the number forward to that timer instead.
"""

from __future__ import annotations

import asyncio
import logging
import selectors
import threading
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pytest

from tap_spinvoices.spapi.operations import UsagePlan
from tap_spinvoices.spapi.ratelimits import (
    ARRIVAL_SPREAD_S,
    BudgetLedger,
    OperationBudgets,
    TokenBucketLimiter,
    paced_plan,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine


class _TimeTravelSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._virtual_loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            self._virtual_loop.now += timeout  # nothing ready: jump to the next timer
            timeout = 0
        return super().select(timeout)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(selector=_TimeTravelSelector(self))

    def time(self) -> float:
        return self.now


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` on a fresh virtual-time loop, like the tap's one loop per partition."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main())


async def acquisition_times(budgets: OperationBudgets, operation: str, count: int) -> list[float]:
    """Acquire ``count`` times from concurrent tasks; return each grant's loop time, sorted."""
    loop = asyncio.get_running_loop()

    async def one() -> float:
        await budgets.acquire(operation)
        return loop.time()

    return sorted(await asyncio.gather(*(one() for _ in range(count))))


T = TypeVar("T")

PLAN = {"op": UsagePlan(rate=2.0, burst=5)}


class TestPacing:
    def test_burst_is_granted_at_once_then_the_steady_rate(self):
        async def main():
            return await acquisition_times(OperationBudgets(PLAN, spread_s=0), "op", 9)

        times = run_virtual(main)
        assert times[:5] == [0.0] * 5
        assert times[5:] == pytest.approx([0.5, 1.0, 1.5, 2.0], abs=1e-6)

    @pytest.mark.parametrize("count", [1, 5, 6, 20, 41])
    def test_n_acquisitions_take_n_minus_burst_over_rate(self, count):
        async def main():
            return await acquisition_times(OperationBudgets(PLAN, spread_s=0), "op", count)

        assert run_virtual(main)[-1] == pytest.approx(max(count - 5, 0) / 2.0, abs=1e-6)

    def test_real_plan_for_get_invoices_document_allows_one_per_minute(self):
        async def main():
            return await acquisition_times(OperationBudgets(spread_s=0), "getInvoicesDocument", 3)

        assert run_virtual(main) == pytest.approx([0.0, 60.0, 120.0], abs=1e-6)

    def test_operations_have_independent_budgets(self):
        plans = {"a": UsagePlan(rate=1.0, burst=1), "b": UsagePlan(rate=1.0, burst=1)}

        async def main():
            budgets = OperationBudgets(plans, spread_s=0)
            a, b = await asyncio.gather(
                acquisition_times(budgets, "a", 2), acquisition_times(budgets, "b", 2)
            )
            return a, b

        a, b = run_virtual(main)
        assert a == pytest.approx([0.0, 1.0])
        assert b == pytest.approx([0.0, 1.0])

    def test_unknown_operation_is_a_programming_error(self):
        async def main():
            await OperationBudgets(PLAN, spread_s=0).acquire("getNothing")

        with pytest.raises(ValueError, match="getNothing"):
            run_virtual(main)


class TestArrivalSpread:
    """Requests leave at the bucket's pace but arrive bunched by network jitter."""

    @pytest.mark.parametrize(
        ("rate", "burst", "spread", "expected"),
        [
            (10.0, 10, 0.3, (10.0, 7.0)),  # getCustomerInvoices: 3 requests out of the burst
            (10.0, 10, 0.0, (10.0, 10.0)),
            (2.0, 15, 0.3, (2.0, 14.0)),  # 0.6 of a request rounds down to a whole one
            (1 / 60, 1, 0.3, (1 / 60.3, 1.0)),  # burst 1, slow: each refill waits 0.3 s longer
            (1.0, 1, 0.3, (1 / 1.3, 1.0)),
            (200.0, 10, 0.3, (200.0, 1.0)),  # fast with a small burst: keep the rate
        ],
    )
    def test_paced_plan(self, rate, burst, spread, expected):
        assert paced_plan(rate, burst, spread) == pytest.approx(expected)

    def test_arrivals_bunched_by_the_spread_never_overflow_amazons_bucket(self):
        """Simulate Amazon's bucket on arrival times: send time plus a delay in [0, spread]."""
        spread = ARRIVAL_SPREAD_S

        async def main():
            return await acquisition_times(OperationBudgets(), "getCustomerInvoices", 60)

        sends = run_virtual(main)
        for delays in (
            [spread * (i % 2) for i in range(len(sends))],  # alternate slow, fast
            [spread if i < 10 else 0.0 for i in range(len(sends))],  # burst late, rest early
            [spread * ((i * 7) % 11) / 10 for i in range(len(sends))],
        ):
            arrivals = sorted(s + d for s, d in zip(sends, delays, strict=True))
            assert amazon_throttles(arrivals, rate=10.0, burst=10) == 0

    def test_without_the_margin_the_same_bunching_is_throttled(self):
        async def main():
            budgets = OperationBudgets(spread_s=0)
            return await acquisition_times(budgets, "getCustomerInvoices", 60)

        sends = run_virtual(main)
        delays = [ARRIVAL_SPREAD_S if i < 10 else 0.0 for i in range(len(sends))]
        arrivals = sorted(s + d for s, d in zip(sends, delays, strict=True))
        assert amazon_throttles(arrivals, rate=10.0, burst=10) > 0

    def test_margin_costs_the_spread_once_not_a_share_of_the_rate(self):
        async def main():
            budgets = OperationBudgets(spread_s=0.3)
            return await acquisition_times(budgets, "getCustomerInvoices", 110)

        # 100 requests past the (reduced) burst of 7: (110 - 7) / 10 instead of (110 - 10) / 10.
        assert run_virtual(main)[-1] == pytest.approx(10.3, abs=1e-6)

    def test_header_rate_is_paced_with_the_margin_too(self):
        async def main():
            budgets = OperationBudgets({"op": UsagePlan(rate=1.0, burst=10)})
            await budgets.acquire("op")
            budgets.observe_rate_limit("op", "5")  # burst 10 - 5 x 0.3 -> 8
            return budgets.rate("op"), await acquisition_times(budgets, "op", 9)

        rate, times = run_virtual(main)
        assert rate == 5.0
        assert times[:7] == [0.0] * 7
        assert times[7:] == pytest.approx([0.2, 0.4], abs=1e-6)

    def test_negative_spread_is_refused(self):
        with pytest.raises(ValueError, match="spread_s"):
            OperationBudgets(PLAN, spread_s=-0.1)


def amazon_throttles(arrivals: list[float], *, rate: float, burst: int) -> int:
    """429s Amazon's token bucket (full at the start) answers to sorted arrival times."""
    tokens, last, throttled = float(burst), 0.0, 0
    for moment in arrivals:
        tokens = min(float(burst), tokens + (moment - last) * rate)
        last = moment
        if tokens >= 1.0 - 1e-9:
            tokens -= 1.0
        else:
            throttled += 1
    return throttled


class TestShare:
    def test_half_share_halves_the_rate_and_the_burst(self):
        async def main():
            budgets = OperationBudgets({"op": UsagePlan(rate=2.0, burst=4)}, share=0.5, spread_s=0)
            return budgets.rate("op"), await acquisition_times(budgets, "op", 6)

        rate, times = run_virtual(main)
        assert rate == 1.0
        assert times == pytest.approx([0.0, 0.0, 1.0, 2.0, 3.0, 4.0], abs=1e-6)

    def test_burst_never_drops_below_one(self):
        async def main():
            budgets = OperationBudgets({"op": UsagePlan(rate=1.0, burst=1)}, share=0.1, spread_s=0)
            return await acquisition_times(budgets, "op", 2)

        assert run_virtual(main) == pytest.approx([0.0, 10.0], abs=1e-6)

    @pytest.mark.parametrize("share", [0.0, -0.5, 1.01])
    def test_share_outside_zero_to_one_is_refused(self, share):
        with pytest.raises(ValueError, match="share"):
            OperationBudgets(PLAN, share=share)


class TestRateLimitHeader:
    def test_higher_announced_rate_is_used(self):
        async def main():
            budgets = OperationBudgets({"op": UsagePlan(rate=1.0, burst=1)}, spread_s=0)
            await budgets.acquire("op")
            budgets.observe_rate_limit("op", "4.0")
            return budgets.rate("op"), await acquisition_times(budgets, "op", 3)

        rate, times = run_virtual(main)
        assert rate == 4.0
        assert times == pytest.approx([0.25, 0.5, 0.75], abs=1e-6)

    def test_lower_announced_rate_slows_down(self):
        async def main():
            budgets = OperationBudgets({"op": UsagePlan(rate=1.0, burst=1)}, spread_s=0)
            await budgets.acquire("op")
            budgets.observe_rate_limit("op", "0.5")
            return await acquisition_times(budgets, "op", 2)

        assert run_virtual(main) == pytest.approx([2.0, 4.0], abs=1e-6)

    @pytest.mark.parametrize(("header", "expected"), [("0.25", [4.0, 8.0]), ("4", [0.25, 0.5])])
    def test_tasks_already_waiting_are_rescheduled_at_the_new_rate(self, header, expected):
        async def main():
            budgets = OperationBudgets({"op": UsagePlan(rate=1.0, burst=1)}, spread_s=0)
            await budgets.acquire("op")
            waiting = asyncio.ensure_future(acquisition_times(budgets, "op", 2))
            for _ in range(3):  # let gather start its tasks: they queue up, due at t=1 and t=2
                await asyncio.sleep(0)
            assert asyncio.get_running_loop().time() == 0.0
            budgets.observe_rate_limit("op", header)
            return await waiting

        assert run_virtual(main) == pytest.approx(expected, abs=1e-6)

    def test_announced_rate_is_scaled_by_share(self):
        async def main():
            budgets = OperationBudgets({"op": UsagePlan(rate=1.0, burst=2)}, share=0.5)
            budgets.observe_rate_limit("op", "8")
            return budgets.rate("op")

        assert run_virtual(main) == 4.0

    def test_rounded_header_for_the_same_rate_changes_nothing(self, caplog):
        async def main():
            budgets = OperationBudgets()
            with caplog.at_level(logging.INFO):
                budgets.observe_rate_limit("getInvoicesDocument", "0.0167")
            return budgets.rate("getInvoicesDocument")

        assert run_virtual(main) == pytest.approx(1 / 60)
        assert caplog.records == []

    @pytest.mark.parametrize("value", [None, "", "abc", "nan", "inf", "-1", "0", "1,5"])
    def test_garbage_values_are_ignored(self, value, caplog):
        async def main():
            budgets = OperationBudgets(PLAN, spread_s=0)
            with caplog.at_level(logging.DEBUG, logger="tap_spinvoices.spapi.ratelimits"):
                budgets.observe_rate_limit("op", value)
            return budgets.rate("op")

        assert run_virtual(main) == 2.0
        assert all(record.levelno == logging.DEBUG for record in caplog.records)

    def test_header_for_an_unknown_operation_is_ignored(self):
        async def main():
            budgets = OperationBudgets(PLAN, spread_s=0)
            budgets.observe_rate_limit("getNothing", "5")

        run_virtual(main)


class TestThrottled:
    def test_a_four_two_nine_empties_the_bucket_for_everyone(self):
        async def main():
            budgets = OperationBudgets({"op": UsagePlan(rate=1.0, burst=10)}, spread_s=0)
            await budgets.acquire("op")
            budgets.note_throttled("op")  # Amazon says: no capacity left, whatever we thought
            return await acquisition_times(budgets, "op", 2)

        assert run_virtual(main) == pytest.approx([1.0, 2.0], abs=1e-6)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestLedgerCarryOver:
    plans: ClassVar = {"op": UsagePlan(rate=1.0, burst=10)}

    def spend(self, ledger: BudgetLedger | None, count: int) -> None:
        async def main() -> None:
            budgets = OperationBudgets(self.plans, ledger=ledger, spread_s=0)
            try:
                await acquisition_times(budgets, "op", count)
            finally:
                budgets.close()

        run_virtual(main)

    def next_loop_times(self, ledger: BudgetLedger | None, count: int) -> list[float]:
        async def main() -> list[float]:
            budgets = OperationBudgets(self.plans, ledger=ledger, spread_s=0)
            try:
                return await acquisition_times(budgets, "op", count)
            finally:
                budgets.close()

        return run_virtual(main)

    def test_next_loop_starts_with_the_level_the_previous_one_left(self):
        clock = FakeClock()
        ledger = BudgetLedger(clock=clock)
        self.spend(ledger, 10)  # the whole burst
        clock.now += 3.0  # three tokens refill between the loops
        times = self.next_loop_times(ledger, 5)
        assert times == pytest.approx([0.0, 0.0, 0.0, 1.0, 2.0], abs=1e-6)

    def test_a_long_pause_refills_the_whole_burst(self):
        clock = FakeClock()
        ledger = BudgetLedger(clock=clock)
        self.spend(ledger, 10)
        clock.now += 3600.0
        assert self.next_loop_times(ledger, 10) == [0.0] * 10

    def test_without_a_ledger_every_loop_starts_full(self):
        self.spend(None, 10)
        assert self.next_loop_times(None, 10) == [0.0] * 10

    def test_announced_rate_carries_over_to_the_next_loop(self):
        ledger = BudgetLedger(clock=FakeClock())

        async def first():
            budgets = OperationBudgets(self.plans, ledger=ledger, spread_s=0)
            await budgets.acquire("op")
            budgets.observe_rate_limit("op", "0.5")
            budgets.close()

        async def second():
            return OperationBudgets(self.plans, ledger=ledger, spread_s=0).rate("op")

        run_virtual(first)
        assert run_virtual(second) == 0.5

    def test_ledger_is_safe_to_share_between_threads(self):
        ledger = BudgetLedger(clock=FakeClock())

        def write(index):
            for _ in range(200):
                ledger.record(f"op{index}", level=1.0, partner_rate=2.0)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(ledger.snapshot(f"op{i}") is not None for i in range(8))


class TestTokenBucketLimiter:
    def test_level_reports_capacity_in_use_after_refill(self):
        async def main():
            limiter = TokenBucketLimiter(rate=2.0, burst=4)
            for _ in range(4):
                await limiter.acquire()
            full = limiter.level()
            await asyncio.sleep(1.0)  # virtual: refills two
            return full, limiter.level()

        assert run_virtual(main) == pytest.approx((4.0, 2.0))

    def test_reuse_is_per_loop(self):
        """Budgets must be built inside each loop: aiolimiter warns when a limiter is reused."""
        limiter = TokenBucketLimiter(rate=1.0, burst=1)

        async def main():
            await limiter.acquire()

        run_virtual(main)
        with pytest.raises(RuntimeWarning, match="re-used across loops"):
            run_virtual(main)
