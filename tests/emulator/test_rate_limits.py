"""Usage-plan token buckets: burst, refill at the rate, 429 QuotaExceeded, advertised rates."""

from __future__ import annotations

import pytest

from spapi_emulator import EmulatorConfig, EmulatorServer
from spapi_emulator.buckets import RateLimiter, TokenBucket
from spapi_emulator.config import LiveConfig

from .conftest import Api, FakeClock, day, iso

PARAMS = {"createdAfter": iso(day(1)), "createdBefore": iso(day(2)), "limit": "1"}
QUOTA = {
    "errors": [
        {
            "code": "QuotaExceeded",
            "message": "You exceeded your quota for the requested resource.",
            "details": "",
        }
    ]
}


class TestTokenBucket:
    def test_full_bucket_allows_burst_requests_then_refuses(self) -> None:
        bucket = TokenBucket(rate=1.0, burst=3, tokens=3.0, updated=0.0)
        assert [bucket.try_take(0.0) for _ in range(4)] == [True, True, True, False]

    @pytest.mark.parametrize(
        ("rate", "wait", "allowed"),
        [(10.0, 0.1, 1), (10.0, 0.05, 0), (0.1, 10.0, 1), (1 / 60, 120.0, 2), (2.0, 100.0, 3)],
    )
    def test_bucket_refills_at_the_rate_up_to_the_burst(
        self, rate: float, wait: float, allowed: int
    ) -> None:
        bucket = TokenBucket(rate=rate, burst=3, tokens=0.0, updated=0.0)
        granted = sum(bucket.try_take(wait) for _ in range(5))
        assert granted == allowed

    def test_unknown_operation_is_never_throttled(self) -> None:
        limiter = RateLimiter(LiveConfig(EmulatorConfig(days=0)), FakeClock())
        assert all(limiter.try_acquire("listCatalogItems") for _ in range(100))


class TestThrottling:
    def test_429_once_the_bucket_is_empty_then_one_more_per_tenth_second(
        self, api: Api, clock: FakeClock
    ) -> None:
        rdt = api.rdt()
        assert [api.invoices(rdt, **PARAMS).status for _ in range(10)] == [200] * 10
        refused = api.invoices(rdt, **PARAMS)
        assert refused.status == 429
        assert refused.json == QUOTA
        assert "x-amzn-RateLimit-Limit" not in refused.headers
        assert "x-amzn-RequestId" in refused.headers
        clock.advance(0.1)
        assert api.invoices(rdt, **PARAMS).status == 200
        assert api.invoices(rdt, **PARAMS).status == 429

    def test_rdt_operation_has_its_own_bucket_of_ten(self, api: Api) -> None:
        token = api.access_token()
        statuses = [
            api.rdt_reply(token, [{"method": "GET", "path": "/x"}]).status for _ in range(11)
        ]
        # Throttling comes before validation: ten 400s use the burst, the eleventh is a 429.
        assert statuses == [400] * 10 + [429]

    def test_granted_rate_is_advertised_and_enforced(
        self, api: Api, emu: EmulatorServer, clock: FakeClock
    ) -> None:
        emu.reconfigure(rate_limit_header={"getCustomerInvoices": 2.0})
        rdt = api.rdt()
        replies = [api.invoices(rdt, **PARAMS) for _ in range(11)]
        assert replies[0].headers["x-amzn-RateLimit-Limit"] == "2.0"
        assert replies[-1].status == 429
        clock.advance(0.25)
        assert api.invoices(rdt, **PARAMS).status == 429
        clock.advance(0.25)
        assert api.invoices(rdt, **PARAMS).status == 200

    def test_time_scale_speeds_the_refill_and_the_advertised_rate(
        self, api: Api, emu: EmulatorServer, clock: FakeClock
    ) -> None:
        emu.reconfigure(time_scale=10.0)
        rdt = api.rdt()
        replies = [api.invoices(rdt, **PARAMS) for _ in range(11)]
        assert replies[0].headers["x-amzn-RateLimit-Limit"] == "100.0"
        assert replies[-1].status == 429
        clock.advance(0.01)
        assert api.invoices(rdt, **PARAMS).status == 200

    def test_throttle_off_never_answers_429(self, api: Api, emu: EmulatorServer) -> None:
        emu.reconfigure(throttle=False)
        rdt = api.rdt()
        assert {api.invoices(rdt, **PARAMS).status for _ in range(15)} == {200}

    def test_stats_count_throttled_requests_and_show_bucket_settings(
        self, api: Api, emu: EmulatorServer
    ) -> None:
        rdt = api.rdt()
        for _ in range(12):
            api.invoices(rdt, **PARAMS)
        stats = emu.stats()
        operation = stats["operations"]["getCustomerInvoices"]  # type: ignore[index]
        assert operation["requests"] == 12
        assert operation["by_status"] == {"200": 10, "429": 2}
        assert operation["throttled"] == 2
        bucket = stats["rate_limits"]["getCustomerInvoices"]  # type: ignore[index]
        assert (bucket["rate"], bucket["burst"]) == (10.0, 10)
        assert stats["rate_limits"]["getInvoicesDocument"]["rate"] == pytest.approx(1 / 60)  # type: ignore[index]


def test_default_plans_are_the_real_usage_plans() -> None:
    config = EmulatorConfig(days=0)
    assert config.rate_limits["getCustomerInvoices"] == (10.0, 10)
    assert config.rate_limits["createRestrictedDataToken"] == (1.0, 10)
    assert config.rate_limits["createInvoicesExport"] == (1 / 6, 1)
    assert config.rate_limits["getInvoicesDocument"] == (1 / 60, 1)
