"""Specification of retry.py: which answers retry, refresh or fail, and how long to wait."""

from __future__ import annotations

import aiohttp
import pytest

from tap_spinvoices.spapi.retry import (
    RetryPolicy,
    Verdict,
    classify_exception,
    classify_status,
    says_token_expired,
)

EXPIRED = (
    "Unauthorized Access to requested resource is denied. "
    "The access token you provided has expired."
)
DENIED = "Unauthorized Access to requested resource is denied. "
QUOTA = "QuotaExceeded You exceeded your quota for the requested resource. "


class TestClassifyStatus:
    @pytest.mark.parametrize("status", [200, 202, 204])
    def test_two_hundreds_succeed(self, status):
        assert classify_status(status) is Verdict.SUCCESS

    @pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
    def test_throttling_and_server_faults_are_retried(self, status):
        assert classify_status(status, QUOTA) is Verdict.RETRY

    @pytest.mark.parametrize("status", [400, 401, 404, 413, 415, 422, 501])
    def test_client_errors_fail_fast(self, status):
        assert classify_status(status, "InvalidInput Invalid transmission ID.") is Verdict.FAIL

    def test_four_oh_three_with_expired_token_refreshes_the_token(self):
        assert classify_status(403, EXPIRED) is Verdict.REFRESH_TOKEN

    def test_second_expired_token_on_the_same_request_fails(self):
        assert classify_status(403, EXPIRED, token_refreshed=True) is Verdict.FAIL

    def test_plain_access_denied_fails_without_refresh(self):
        assert classify_status(403, DENIED) is Verdict.FAIL

    def test_expiry_wording_only_counts_on_a_four_oh_three(self):
        assert classify_status(400, "InvalidInput Next token is invalid or expired") is Verdict.FAIL


class TestExpiredTokenWording:
    @pytest.mark.parametrize(
        "text",
        [
            EXPIRED,
            "Unauthorized Token EXPIRED ",
            "ExpiredToken The security token included in the request is expired ",
            "Unauthorized The access token you provided is revoked, malformed or invalid. ",
        ],
    )
    def test_expiry_is_recognised(self, text):
        assert says_token_expired(text)

    @pytest.mark.parametrize(
        "text",
        [DENIED, "AccessDenied Forbidden ", "InvalidRequest The request is invalid. ", ""],
    )
    def test_other_denials_are_not_expiry(self, text):
        assert not says_token_expired(text)


class TestClassifyException:
    @pytest.mark.parametrize(
        "exc",
        [
            aiohttp.ServerDisconnectedError(),
            aiohttp.ClientConnectionError("reset"),
            aiohttp.ClientPayloadError("truncated"),
            TimeoutError(),
            aiohttp.ConnectionTimeoutError(),
        ],
    )
    def test_connection_errors_and_timeouts_are_retried(self, exc):
        assert classify_exception(exc) is Verdict.RETRY

    def test_other_client_errors_are_not_retried(self):
        assert classify_exception(aiohttp.InvalidURL("x")) is Verdict.FAIL


class TestDelay:
    policy = RetryPolicy(max_attempts=8, base_delay=0.5, max_delay=30.0)

    @pytest.mark.parametrize(
        ("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0), (50, 30.0)]
    )
    def test_ceiling_doubles_per_attempt_up_to_the_cap(self, attempt, ceiling):
        assert self.policy.delay(attempt, 0.0) == 0.0
        assert self.policy.delay(attempt, 0.5) == pytest.approx(ceiling / 2)
        assert self.policy.delay(attempt, 0.999999) == pytest.approx(ceiling, rel=1e-5)

    @pytest.mark.parametrize("fraction", [0.0, 0.1, 0.37, 0.5, 0.9, 0.999])
    def test_full_jitter_stays_within_bounds(self, fraction):
        for attempt in range(1, 12):
            delay = self.policy.delay(attempt, fraction)
            assert 0.0 <= delay <= min(30.0, 0.5 * 2 ** (attempt - 1))

    def test_retry_after_is_a_floor(self):
        assert self.policy.delay(1, 0.5, retry_after=7.0) == 7.0

    def test_retry_after_below_the_jitter_changes_nothing(self):
        assert self.policy.delay(5, 0.5, retry_after=1.0) == pytest.approx(4.0)

    def test_retry_after_above_the_cap_is_still_honoured(self):
        assert self.policy.delay(10, 0.99, retry_after=120.0) == 120.0

    def test_huge_attempt_numbers_do_not_overflow(self):
        assert self.policy.delay(10_000, 1.0) == 30.0


class TestBudgets:
    policy = RetryPolicy(max_attempts=3, max_throttled_attempts=5)

    def test_faults_are_limited_by_max_attempts(self):
        assert self.policy.may_retry(faults=2, throttles=0)
        assert not self.policy.may_retry(faults=3, throttles=0)

    def test_throttling_has_its_own_larger_budget(self):
        assert self.policy.may_retry(faults=0, throttles=4)
        assert not self.policy.may_retry(faults=0, throttles=5)

    def test_throttling_does_not_eat_the_fault_budget(self):
        assert self.policy.may_retry(faults=2, throttles=4)

    def test_defaults(self):
        default = RetryPolicy()
        assert (default.max_attempts, default.base_delay, default.max_delay) == (8, 0.5, 30.0)
        assert default.max_throttled_attempts > default.max_attempts
