"""Which SP-API answers to retry, refresh the token for, or fail on, and how long to wait.

Pure (no I/O). A policy object plus the client's small loop replaces python-backoff, whose
decorators own both the loop and the sleep: the client needs Retry-After, one immediate
token refresh per request and an injected fake sleep, none of which backoff expresses.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from http import HTTPStatus

import aiohttp

__all__ = [
    "RETRYABLE_STATUSES",
    "THROTTLED",
    "RetryPolicy",
    "Verdict",
    "classify_exception",
    "classify_status",
    "is_success",
    "says_token_expired",
]

# QuotaExceeded: Amazon's token bucket for the operation is empty
# (https://developer-docs.amazon.com/sp-api/docs/usage-plans-and-rate-limits).
THROTTLED = HTTPStatus.TOO_MANY_REQUESTS

# 429 and the 5xx the SP-API models declare (500, 503) plus the gateway's 502/504; 408 is a
# request timeout, transient by definition. Every other status is final.
RETRYABLE_STATUSES = frozenset(
    {
        HTTPStatus.REQUEST_TIMEOUT,
        THROTTLED,
        HTTPStatus.INTERNAL_SERVER_ERROR,
        HTTPStatus.BAD_GATEWAY,
        HTTPStatus.SERVICE_UNAVAILABLE,
        HTTPStatus.GATEWAY_TIMEOUT,
    }
)

# A 403 "Unauthorized" is retried with a fresh token only when Amazon says the token expired
# ("The access token you provided has expired.", code "ExpiredToken", ...). An hour-old LWA
# token has also been answered with "The access token you provided is revoked, malformed or
# invalid." (amzn/selling-partner-api-models#230), so that wording refreshes too; a plain
# "Access to requested resource is denied." is a missing role and never does.
_EXPIRED_TOKEN = re.compile(r"expire|access token .*\b(revoked|malformed|invalid)\b", re.IGNORECASE)


class Verdict(enum.Enum):
    """What the client does with the result of one attempt."""

    SUCCESS = "success"
    RETRY = "retry"  # wait (jittered backoff, Retry-After) and send the same request again
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a verdict, not a secret. Drop the expired token and resend at once, once
    FAIL = "fail"  # raise: resending cannot change Amazon's answer


def is_success(status: int) -> bool:
    """Tell whether ``status`` is 2xx."""
    return HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES


def says_token_expired(error_text: str) -> bool:
    """Tell whether an SP-API error (code, message, details joined) reports an expired token."""
    return _EXPIRED_TOKEN.search(error_text) is not None


def classify_status(status: int, error_text: str = "", *, token_refreshed: bool = False) -> Verdict:
    """Classify an HTTP answer.

    Args:
        status: The HTTP status code.
        error_text: The SP-API error's code, message and details joined by spaces.
        token_refreshed: Whether this request already refreshed its token once; a second
            expiry means the fresh token is refused too, so the request fails.

    Returns:
        SUCCESS for 2xx (the caller still checks the body), RETRY for 408/429/500/502/503/504,
        REFRESH_TOKEN for a 403 that says the token expired, FAIL for everything else
        (400, 401, other 403, 404, 413, 415, ...).

    """
    if is_success(status):
        return Verdict.SUCCESS
    if status in RETRYABLE_STATUSES:
        return Verdict.RETRY
    if status == HTTPStatus.FORBIDDEN and says_token_expired(error_text):
        return Verdict.FAIL if token_refreshed else Verdict.REFRESH_TOKEN
    return Verdict.FAIL


_TRANSIENT_EXCEPTIONS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)


def classify_exception(exc: aiohttp.ClientError | TimeoutError) -> Verdict:
    """Classify an exception raised while sending a request or reading its answer.

    Connection errors (resets, refused, ServerDisconnectedError), truncated bodies and
    timeouts are RETRY; other aiohttp errors (an invalid URL, ...) are FAIL. A malformed 200
    raises nothing: the client retries it as an answer (``client._judge``).
    """
    return Verdict.RETRY if isinstance(exc, _TRANSIENT_EXCEPTIONS) else Verdict.FAIL


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry one request.

    Faults (5xx, resets, timeouts, malformed JSON) and throttling (429) have separate
    budgets. A 429 is not a failure: it means the bucket Amazon keeps for this selling
    partner and this application is empty (another copy of the tap running with the same
    app, or a rate below the one advertised; docs/quirks.md, "Throttling"). Pacing plus
    backoff recovers from it, so it gets a larger budget of its own and a run of 429s never
    eats the allowance for real faults (or vice versa).
    """

    max_attempts: int = 8  #: attempts per request that may end in a fault (first one included)
    base_delay: float = 0.5  #: seconds; the first retry waits up to this long
    max_delay: float = 30.0  #: seconds; cap of the exponential ceiling
    max_throttled_attempts: int = 20  #: 429 answers tolerated per request before giving up
    #: seconds; a longer Retry-After is not waited for: the answer counts as a fault and is
    #: retried like a 503 (a 503 asking for a day must not stall a nightly run for a day)
    max_retry_after: float = 120.0

    def delay(
        self, attempt: int, random_fraction: float, retry_after: float | None = None
    ) -> float:
        """Seconds to wait before retry number ``attempt``.

        "Full jitter": uniform in ``[0, min(max_delay, base_delay * 2 ** (attempt - 1)))``,
        so concurrent tasks hit by the same fault spread out instead of retrying together.
        A server-sent Retry-After is a floor: Amazon knows when capacity returns.

        Args:
            attempt: 1 for the first retry, 2 for the second, ...
            random_fraction: A number in ``[0, 1)``, e.g. ``random.random()``.
            retry_after: The Retry-After header in seconds, if the server sent one.

        Returns:
            The delay in seconds.

        """
        exponent = min(max(attempt, 1) - 1, 62)  # 2**62 already dwarfs any max_delay
        ceiling = min(self.max_delay, self.base_delay * 2.0**exponent)
        jittered = min(max(random_fraction, 0.0), 1.0) * ceiling
        if retry_after is not None and retry_after > jittered:
            return retry_after
        return jittered

    def heeds(self, retry_after: float | None) -> bool:
        """Tell whether a Retry-After (seconds, None: not sent) is within the cap and waited for."""
        return retry_after is None or retry_after <= self.max_retry_after

    def may_retry(self, *, faults: int, throttles: int) -> bool:
        """Tell whether a request after ``faults`` faults and ``throttles`` 429s may go on."""
        return faults < self.max_attempts and throttles < self.max_throttled_attempts
