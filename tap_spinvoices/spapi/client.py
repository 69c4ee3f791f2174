"""SpApiClient: paced, retried, token-refreshing JSON calls to the Selling Partner API."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import platform
import random
import re
import time
from dataclasses import dataclass
from http import HTTPStatus
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import aiohttp
import orjson
from yarl import URL

from tap_spinvoices.errors import (
    ApiError,
    ExpiredNextTokenError,
    RequestTooLongError,
    ResponseTooLargeError,
    RetriesExhaustedError,
    RoleError,
    SpinvoicesError,
)
from tap_spinvoices.spapi import operations
from tap_spinvoices.spapi.auth import (
    AccessTokenSource,
    RestrictedDataTokenProvider,
    TokenStore,
)
from tap_spinvoices.spapi.bodies import BodyTooLargeError, read_bounded, read_prefix
from tap_spinvoices.spapi.operations import CREATE_RESTRICTED_DATA_TOKEN, TOKEN_LIFETIME_S
from tap_spinvoices.spapi.paging import refused_for_length
from tap_spinvoices.spapi.responses import MAX_TEXT, ErrorDetail, json_object, parse_error_body
from tap_spinvoices.spapi.retry import (
    THROTTLED,
    RetryPolicy,
    Verdict,
    classify_exception,
    classify_status,
    is_success,
    says_token_expired,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from tap_spinvoices.spapi.ratelimits import OperationBudgets

__all__ = [
    "JsonAnswer",
    "RequestMetrics",
    "SpApiCalls",
    "SpApiClient",
    "default_user_agent",
    "request_id_of",
]

LOGGER = logging.getLogger(__name__)

# Largest answer read unless the caller says otherwise (the session passes max_record_mb).
DEFAULT_MAX_BODY_BYTES = 16 << 20
# Of an error answer only the start is read: its code and message are what matter.
_ERROR_BODY_BYTES = 64 << 10

# 400 and 403 from createRestrictedDataToken: the app may not have the path's data.
_RDT_REFUSALS = frozenset({HTTPStatus.BAD_REQUEST, HTTPStatus.FORBIDDEN})
# A 403 with these codes is a bad request, not a denial (the static sandbox of
# vendorDirectFulfillmentShippingV1.json answers a malformed createdBefore with 403
# InvalidRequest).
_INPUT_ERROR_CODES = frozenset({"InvalidInput", "InvalidRequest", "InvalidParameterValue"})
_URL_QUERY = re.compile(r"\?[^\s'\"]*")
# What the user can do once a request ran out of retries (the last STATE resumes the run).
_FAULTS_HINT = "Amazon or the network kept failing: run again later, or raise max_retries"
_LONG_WAIT_HINT = (
    "Amazon kept failing and asked to wait longer than max_retry_after_seconds: run again "
    "later, or raise max_retry_after_seconds to wait as long as it asks"
)
# Amazon's quotas belong to one selling partner and one application (usage-plans-and-rate-
# limits); only other copies of this tap, run with the same app for the same selling partner,
# draw from the same buckets.
_THROTTLED_HINT = (
    "Amazon kept throttling: run again later, or lower max_concurrency; if other copies of "
    "this tap run with the same app for this selling partner, lower rate_budget_percent"
)
# Reaches the user only once fetching the window again did not help (streams/pager.py).
_NEXT_PAGE_EXPIRED_HINT = (
    "the nextTokens were refused (expired or invalid) each time the window was fetched "
    "again: lower max_concurrency so each window's next page is asked for sooner"
)
# What quote(text, safe="") escapes in ASCII text: all but letters, digits and "_.-~".
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9_.~-]")
_PERCENT_ESCAPES = {chr(code): f"%{code:02X}" for code in range(128)}


def default_user_agent() -> str:
    """Return the user-agent Amazon asks for: ``AppId/Version (Language=Name/Version)``.

    https://developer-docs.amazon.com/sp-api/docs/include-a-user-agent-header-in-all-requests
    """
    try:
        version = metadata.version("tap-spinvoices")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        version = "0.0.0"
    return f"tap-spinvoices/{version} (Language=Python/{platform.python_version()})"


class SpApiCalls(Protocol):
    """The calls the streams make on an SP-API client (SpApiClient, or a fake in tests)."""

    async def get_json(
        self,
        operation: str,
        path: str,
        params: Mapping[str, str | int],
        *,
        restricted: bool = False,
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """GET ``path`` as ``operation`` and return the JSON object Amazon answered.

        ``max_bytes`` bounds the answer (None: the client's own bound); a longer one raises
        ``ResponseTooLargeError`` without being read.
        """
        ...

    async def post_json(
        self, operation: str, path: str, body: Mapping[str, Any], *, restricted: bool = False
    ) -> dict[str, Any]:
        """POST ``body`` to ``path`` as ``operation`` and return the JSON object answered."""
        ...


@dataclass
class RequestMetrics:
    """Counters for one SP-API operation, for the tap's end-of-run log."""

    requests: int = 0  #: HTTP attempts sent, retries included
    throttled: int = 0  #: 429 QuotaExceeded answers
    retries: int = 0  #: attempts repeated after a fault, a 429 or a token refresh
    errors: int = 0  #: calls that ended in an exception
    latency_s: float = 0.0  #: summed duration of the attempts, in seconds
    #: 200 answers holding none of the model's keys (counted by the pager, streams/)
    unexpected_bodies: int = 0

    @property
    def mean_latency_s(self) -> float:
        """Average duration of one attempt, in seconds."""
        return self.latency_s / self.requests if self.requests else 0.0


class JsonAnswer(dict[str, Any]):
    """The JSON object Amazon answered, with its ``x-amzn-RequestId`` for warnings."""

    __slots__ = ("request_id",)

    def __init__(self, body: dict[str, Any], *, request_id: str | None) -> None:
        """Wrap a decoded body (its top level is copied: a page has two or three keys)."""
        super().__init__(body)
        self.request_id = request_id


def request_id_of(body: Mapping[str, Any]) -> str | None:
    """The ``x-amzn-RequestId`` of an answer returned by ``SpApiClient``, if it has one."""
    return body.request_id if isinstance(body, JsonAnswer) else None


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    operation: str
    path: str
    query: str = ""  # already URL-encoded
    body: bytes | None = None
    restricted: bool = False
    next_token_chars: int = 0  # length of the nextToken the query carries; 0: none
    rdt_for: str | None = None  # set on createRestrictedDataToken: the path being minted
    max_bytes: int | None = None  # bound of the answer; None: the client's

    @property
    def has_next_token(self) -> bool:
        return self.next_token_chars > 0

    @property
    def line_bytes(self) -> int:
        """Length of the request line's target: the path and the encoded query."""
        return len(_quote_path(self.path)) + 1 + len(self.query)


@dataclass(frozen=True, slots=True)
class _Outcome:
    verdict: Verdict
    token: str
    problem: str = ""  # one line for logs and RetriesExhaustedError
    payload: dict[str, Any] | None = None
    status: int | None = None
    error: ErrorDetail | None = None
    request_id: str | None = None
    retry_after: float | None = None


class SpApiClient:
    """JSON calls to the SP-API for one event loop, sharing budgets and tokens between tasks.

    Every attempt: take one request from the operation's budget, pick the token (an RDT for
    restricted calls, else the LWA access token), send, feed x-amzn-RateLimit-Limit back to
    the budget, then return the JSON object or retry/refresh/raise per ``retry.py``.
    """

    def __init__(  # noqa: PLR0913 - collaborators plus injectable sleep/random/clock for tests
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        lwa: AccessTokenSource,
        budgets: OperationBudgets,
        store: TokenStore,
        policy: RetryPolicy | None = None,
        use_rdt: bool = True,
        user_agent: str | None = None,
        timeout_s: float = 60.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = random.random,
        token_clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = LOGGER,
    ) -> None:
        """Build a client on a session created inside the running loop.

        Args:
            session: The loop's aiohttp session (the caller closes it).
            base_url: Regional endpoint, e.g. ``https://sellingpartnerapi-eu.amazon.com``.
            lwa: LWA access tokens.
            budgets: The loop's per-operation rate budgets.
            store: Token cache shared across loops (holds the RDTs).
            policy: Retry budget and backoff; default ``RetryPolicy()``.
            use_rdt: Send an RDT on ``restricted=True`` calls (else the LWA token).
            user_agent: Defaults to ``default_user_agent()``.
            timeout_s: Total timeout of one attempt, in seconds.
            max_body_bytes: Longest answer read when a call names no bound of its own.
            sleep: Awaited between retries (a recorder in tests).
            random: Returns a number in ``[0, 1)`` for the jitter.
            token_clock: Monotonic clock deciding RDT expiry.
            logger: Where attempts and retries are logged (never tokens).

        """
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._lwa = lwa
        self._budgets = budgets
        self._policy = policy or RetryPolicy()
        self._use_rdt = use_rdt
        self._user_agent = user_agent or default_user_agent()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_body_bytes = max_body_bytes
        self._sleep = sleep
        self._random = random
        self._log = logger
        self._rdt = RestrictedDataTokenProvider(
            self._mint_rdt, store=store, clock=token_clock, logger=logger
        )
        self.metrics: dict[str, RequestMetrics] = {}  #: counters per operationId
        # x-amz-date of the current second: formatting it costs more than the rest of the
        # headers, and a page takes far less than a second.
        self._date_second = -1
        self._date_text = ""

    async def get_json(
        self,
        operation: str,
        path: str,
        params: Mapping[str, str | int],
        *,
        restricted: bool = False,
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """GET ``path`` with query ``params`` and return the JSON object Amazon answered.

        Args:
            operation: SP-API operationId (selects the rate budget), e.g. getCustomerInvoices.
            path: API path with a leading slash and no query.
            params: Query parameters; every value is URL-encoded (nextToken holds ``+/=``).
            restricted: The operation needs a Restricted Data Token for ``path``.
            max_bytes: Longest answer read; None: the client's ``max_body_bytes``.

        Raises:
            ExpiredNextTokenError: A 400 to a request carrying a nextToken (any wording).
            RequestTooLongError: A server refused the request line for its length.
            ResponseTooLargeError: The answer is longer than ``max_bytes`` (not retried).
            ApiError: Amazon refused the request for good (4xx).
            RoleError: Access denied, or the RDT was refused.
            AuthError: LWA rejected the credentials.
            RetriesExhaustedError: 429/5xx/timeouts/bad JSON outlasted the retry budget.

        """
        query = "&".join([f"{_quote(k)}={_quote(str(v))}" for k, v in params.items()])
        request = _Request(
            "GET",
            operation,
            path,
            query,
            restricted=restricted,
            next_token_chars=len(str(params.get("nextToken", ""))),
            max_bytes=max_bytes,
        )
        return await self._call(request)

    async def post_json(
        self, operation: str, path: str, body: Mapping[str, Any], *, restricted: bool = False
    ) -> dict[str, Any]:
        """POST the JSON ``body`` to ``path`` and return the JSON object Amazon answered.

        Raises the same errors as ``get_json``.
        """
        request = _Request("POST", operation, path, body=orjson.dumps(body), restricted=restricted)
        return await self._call(request)

    def note_unexpected_body(self, operation: str) -> None:
        """Count a 200 whose body held none of the model's keys (the pager decides that)."""
        self.metrics.setdefault(operation, RequestMetrics()).unexpected_bodies += 1

    async def _call(self, request: _Request) -> dict[str, Any]:
        metrics = self.metrics.setdefault(request.operation, RequestMetrics())
        try:
            return await self._call_with_retries(request, metrics)
        except SpinvoicesError:
            metrics.errors += 1
            raise

    async def _call_with_retries(
        self, request: _Request, metrics: RequestMetrics
    ) -> dict[str, Any]:
        faults = throttles = attempts = 0
        token_refreshed = False
        while True:
            attempts += 1
            outcome = await self._attempt(request, metrics, token_refreshed=token_refreshed)
            if outcome.verdict is Verdict.SUCCESS and outcome.payload is not None:
                return JsonAnswer(outcome.payload, request_id=outcome.request_id)
            if outcome.verdict is Verdict.REFRESH_TOKEN:
                # Resend at once with a fresh token; a second expiry FAILs (classify_status).
                token_refreshed = True
                self._invalidate(request, outcome.token)
                metrics.retries += 1
                continue
            if outcome.verdict is not Verdict.RETRY:
                raise self._failure(request, outcome)
            # A Retry-After past the cap is not waited for: a fault, retried like a 503.
            heeded = self._policy.heeds(outcome.retry_after)
            throttled = outcome.status == THROTTLED and heeded
            if throttled:
                throttles += 1
            else:
                faults += 1
            if not self._policy.may_retry(faults=faults, throttles=throttles):
                raise _retries_exhausted(request, outcome, attempts, long_wait=not heeded)
            retry_after = outcome.retry_after if heeded else None
            delay = self._policy.delay(
                throttles if throttled else faults, self._random(), retry_after
            )
            metrics.retries += 1
            if heeded:
                self._log.info("%s: %s; retry in %.2f s", request.operation, outcome.problem, delay)
            else:
                self._log.warning(
                    "%s: %s asked to wait %.0f s (Retry-After), more than "
                    "max_retry_after_seconds (%.0f s): counted as a fault, retry in %.2f s",
                    request.operation,
                    outcome.problem,
                    outcome.retry_after,
                    self._policy.max_retry_after,
                    delay,
                )
            await self._sleep(delay)

    async def _attempt(
        self, request: _Request, metrics: RequestMetrics, *, token_refreshed: bool
    ) -> _Outcome:
        """Send ``request`` once, within its budget, and judge the answer."""
        # Mint or refresh the token first: grants taken while a token call is under way
        # would all leave together when it returns, bunched beyond Amazon's burst.
        await self._token(request)
        await self._budgets.acquire(request.operation)
        token = await self._token(request)  # cached; renewed only if it expired meanwhile
        metrics.requests += 1
        started = time.perf_counter()
        try:
            status, body, headers = await self._send(request, token)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _transport_failure(request, exc, token)
        finally:
            metrics.latency_s += time.perf_counter() - started
        self._observe(request, status, headers, metrics)
        return _judge(status, body, headers, token, token_refreshed=token_refreshed)

    def _observe(
        self,
        request: _Request,
        status: int,
        headers: Mapping[str, str],
        metrics: RequestMetrics,
    ) -> None:
        """Log the answer and feed what it says about the quota to the operation's budget."""
        self._log.debug(
            "%s %s -> HTTP %d (x-amzn-RequestId %s)",
            request.method,
            request.path,
            status,
            headers.get("x-amzn-RequestId") or "-",
        )
        self._budgets.observe_rate_limit(request.operation, headers.get("x-amzn-RateLimit-Limit"))
        if status == THROTTLED:
            metrics.throttled += 1
            self._budgets.note_throttled(request.operation)

    async def _send(self, request: _Request, token: str) -> tuple[int, bytes, Mapping[str, str]]:
        headers = {
            "x-amz-access-token": token,
            "user-agent": self._user_agent,
            "x-amz-date": self._amz_date(),
            "accept": "application/json",
        }
        if request.body is not None:
            headers["content-type"] = "application/json"
        # Encoded by us (quote, safe=""), so yarl must not re-encode: '+' stays %2B.
        url = self._base_url + _quote_path(request.path)
        if request.query:
            url += f"?{request.query}"
        async with self._session.request(
            request.method,
            URL(url, encoded=True),
            data=request.body,
            headers=headers,
            timeout=self._timeout,
        ) as response:
            if not is_success(response.status):
                return (
                    response.status,
                    await read_prefix(response, _ERROR_BODY_BYTES),
                    response.headers,
                )
            limit = request.max_bytes or self._max_body_bytes
            try:
                body = await read_bounded(response, limit)
            except BodyTooLargeError as too_large:
                raise ResponseTooLargeError(
                    operation=request.operation,
                    limit=limit,
                    declared=too_large.declared,
                    request_id=response.headers.get("x-amzn-RequestId"),
                ) from None
            return response.status, body, response.headers

    def _amz_date(self) -> str:
        """Now in UTC as ``20240101T000000Z``, formatted once per second."""
        second = int(time.time())
        if second != self._date_second:
            self._date_text = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._date_second = second
        return self._date_text

    async def _token(self, request: _Request) -> str:
        if request.restricted and self._use_rdt:
            return await self._rdt.token_for(request.path)
        return await self._lwa.access_token()

    def _invalidate(self, request: _Request, token: str) -> None:
        if request.restricted and self._use_rdt:
            self._rdt.invalidate(request.path, token)
        else:
            self._lwa.invalidate(token)

    async def _mint_rdt(self, path: str) -> tuple[str, float]:
        """Call createRestrictedDataToken for GET ``path``; RestrictedDataTokenProvider's mint."""
        # A path without its leading slash gets 400 InvalidInput "Could not match input
        # arguments" (amzn/selling-partner-api-models#434); a query is no part of a resource.
        if not path.startswith("/") or "?" in path:
            raise ValueError(f"an RDT path needs a leading slash and no query: {path!r}")
        # No dataElements: tokens_2021-03-01.json reserves them for the Orders API, and DF
        # paths refuse them (amzn/selling-partner-api-docs#2603).
        body = {"restrictedResources": [{"method": "GET", "path": path}]}
        mint = CREATE_RESTRICTED_DATA_TOKEN
        request = _Request(mint.method, mint.name, mint.path, body=orjson.dumps(body), rdt_for=path)
        answer = await self._call(request)
        token = answer.get("restrictedDataToken")
        if not isinstance(token, str) or not token:
            raise ApiError(
                operation=mint.name,
                status=200,
                code="MalformedResponse",
                message="the answer has no restrictedDataToken",
                request_id=None,
            )
        expires_in = answer.get("expiresIn")
        if isinstance(expires_in, (int, float)) and expires_in > 0:
            return token, float(expires_in)
        return token, TOKEN_LIFETIME_S

    def _failure(self, request: _Request, outcome: _Outcome) -> SpinvoicesError:
        """Turn a FAIL outcome into the exception that tells the user what to do."""
        failure = _Failure.of(outcome)
        # Before the RDT refusals: a token refused as expired is no missing role.
        if failure.status == HTTPStatus.FORBIDDEN and says_token_expired(failure.error.text):
            return ApiError(**failure.fields(request), hint=self._expired_at_once(request))
        if request.rdt_for is not None and failure.status in _RDT_REFUSALS:
            return _rdt_refused(request.rdt_for, failure)
        if request.has_next_token and (refused := _follow_up_refusal(request, failure)):
            return refused
        if _is_denial(failure.status, failure.error):
            return self._denied(request, failure)
        if failure.status == HTTPStatus.UNAUTHORIZED:
            hint = "check lwa_client_id, lwa_client_secret and refresh_token"
            return ApiError(**failure.fields(request), hint=hint)
        return ApiError(**failure.fields(request))

    def _expired_at_once(self, request: _Request) -> str:
        """Why a token refused as expired right after it was renewed is not a role problem."""
        token = (
            "minted RDT"
            if request.restricted and self._use_rdt and request.rdt_for is None
            else "refreshed LWA access token"
        )
        return (
            f"Amazon refused a freshly {token} as expired too: tokens expire as soon as they "
            "are issued, which is not a missing role. Check that lwa_token_url reaches Login "
            "with Amazon itself (nothing caching its answers) and the machine's clock, then "
            "run again"
        )

    def _denied(self, request: _Request, failure: _Failure) -> RoleError:
        """A 403 denial: fixed by roles or re-authorisation, never by retrying.

        RoleError sorts it with the RDT refusals, where the user has to act in Seller Central.
        """
        role = operations.role_of(request.operation) or "required"
        rdt = ""
        if request.restricted:
            rdt = (
                "; an RDT minted for another path is refused too"
                if self._use_rdt
                else "; or set use_rdt to true: the operation may demand an RDT"
            )
        return RoleError(
            f"{request.operation} was denied: HTTP 403 {failure.error.code}: "
            f"{failure.message}{failure.where}. The app needs the {role} role and the selling "
            f"partner must re-authorise the app after it was granted{rdt}"
        )


@dataclass(frozen=True, slots=True)
class _Failure:
    """What a FAIL outcome tells the user: status, Amazon's error, its text and request id."""

    status: int
    error: ErrorDetail
    message: str  # Amazon's words, scrubbed of the token and shortened
    request_id: str | None

    @classmethod
    def of(cls, outcome: _Outcome) -> _Failure:
        error = outcome.error or ErrorDetail(code="", message=outcome.problem)
        message = _scrub(error.description, outcome.token)[:MAX_TEXT]
        return cls(outcome.status or 0, error, message, outcome.request_id)

    @property
    def where(self) -> str:
        return f" (x-amzn-RequestId {self.request_id})" if self.request_id else ""

    def fields(self, request: _Request) -> dict[str, Any]:
        """ApiError's keyword arguments."""
        return {
            "operation": request.operation,
            "status": self.status,
            "code": self.error.code,
            "message": self.message,
            "request_id": self.request_id,
        }


def _follow_up_refusal(request: _Request, failure: _Failure) -> SpinvoicesError | None:
    """What refusing a request that carried a nextToken means, if it is about paging.

    A server's length limit (the request line) comes first: the token was never read. Then
    any 400, whatever its wording, is a refused token, because the first page was accepted
    with the same arguments and the token is what changed. The pager reads the error for a
    complaint about the arguments (spapi/paging.py) and decides between a restart and
    another follow-up form.
    """
    if refused_for_length(failure.status, failure.error.code, request.line_bytes):
        return _too_long(request, failure)
    if failure.status == HTTPStatus.BAD_REQUEST:
        return ExpiredNextTokenError(**failure.fields(request), hint=_NEXT_PAGE_EXPIRED_HINT)
    return None


def _too_long(request: _Request, failure: _Failure) -> RequestTooLongError:
    """A follow-up page refused for the length of its request line, not for its token."""
    return RequestTooLongError(
        f"{request.operation} failed: HTTP {failure.status} {failure.error.code or 'from a server'}"
        f"{failure.where}: a follow-up page's nextToken of {request.next_token_chars:,} "
        f"characters makes a request line of {request.line_bytes:,} bytes, and a server between "
        "the tap and the SP-API refused it for its length (no SP-API error answer): not an "
        "expired token, so fetching the window again would bring the same token back. Fix: "
        "raise the URL length limit of the proxy between the tap and Amazon; without one, "
        "report the nextToken length to Amazon"
    )


def _retries_exhausted(
    request: _Request, outcome: _Outcome, attempts: int, *, long_wait: bool = False
) -> RetriesExhaustedError:
    if long_wait:
        hint = _LONG_WAIT_HINT
    else:
        hint = _THROTTLED_HINT if outcome.status == THROTTLED else _FAULTS_HINT
    tries = f"{attempts} attempt" + ("" if attempts == 1 else "s")
    return RetriesExhaustedError(
        f"{request.operation} gave up after {tries}; last: {outcome.problem}. {hint}"
    )


def _is_denial(status: int, error: ErrorDetail) -> bool:
    """A 403 that denies access, unlike a 403 that rejects the input."""
    return status == HTTPStatus.FORBIDDEN and error.code not in _INPUT_ERROR_CODES


def _rdt_refused(path: str, failure: _Failure) -> RoleError:
    role = operations.role_for_restricted_path(path) or "required"
    return RoleError(
        f"{CREATE_RESTRICTED_DATA_TOKEN.name} refused an RDT for GET {path}: HTTP {failure.status} "
        f"{failure.error.code}: {failure.message}{failure.where}. The app needs the {role} "
        "role, and the vendor must re-authorise the app after the role was granted "
        "(or set use_rdt to false)"
    )


def _transport_failure(
    request: _Request, exc: aiohttp.ClientError | TimeoutError, token: str
) -> _Outcome:
    """A request that got no answer: connection errors and timeouts are retried."""
    problem = _describe(exc)
    if classify_exception(exc) is not Verdict.RETRY:
        raise SpinvoicesError(f"{request.operation} failed: {problem}") from None
    return _Outcome(Verdict.RETRY, token, problem=problem)


def _judge(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    token: str,
    *,
    token_refreshed: bool,
) -> _Outcome:
    """Decide what an answer means: a payload, a retry, a token refresh or a failure."""
    if is_success(status):
        payload = {} if status == HTTPStatus.NO_CONTENT else json_object(body)
        if payload is None:  # never an empty page: a malformed 200 is retried
            return _Outcome(Verdict.RETRY, token, problem=f"HTTP {status} with malformed JSON")
        request_id = headers.get("x-amzn-RequestId")
        return _Outcome(Verdict.SUCCESS, token, payload=payload, request_id=request_id)
    error = parse_error_body(body)
    request_id = headers.get("x-amzn-RequestId")
    problem = f"HTTP {status} {error.code}: {error.description}"[:MAX_TEXT]
    if request_id:
        problem += f" (x-amzn-RequestId {request_id})"
    return _Outcome(
        classify_status(status, error.text, token_refreshed=token_refreshed),
        token,
        problem=_scrub(problem, token),
        status=status,
        error=error,
        request_id=request_id,
        retry_after=_retry_after(headers.get("Retry-After")),
    )


@functools.lru_cache(maxsize=256)
def _quote(text: str) -> str:
    """Return ``quote(text, safe="")``, faster for ASCII text and for repeated values.

    Once one byte needs escaping, urllib maps every byte in Python (3 us for a nextToken);
    a query has a few such characters (``:`` of the dates, ``+/=`` of the nextToken). The
    names and, page after page, a window's bounds repeat: the cache answers for them.
    """
    if text.isascii():
        return _UNSAFE_ASCII.sub(_percent_escape, text)
    return quote(text, safe="")


def _percent_escape(match: re.Match[str]) -> str:
    return _PERCENT_ESCAPES[match.group()]


@functools.lru_cache(maxsize=64)
def _quote_path(path: str) -> str:
    """Return ``quote(path)``; a run asks for the same few paths over and over."""
    return quote(path)


def _retry_after(value: str | None) -> float | None:
    """Read Retry-After in seconds; the HTTP-date form and garbage are ignored."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _describe(exc: BaseException) -> str:
    """Name an aiohttp/timeout error without its URL query (headers are never in it)."""
    text = _URL_QUERY.sub("", str(exc))[:MAX_TEXT]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _scrub(text: str, token: str) -> str:
    """Drop the token we sent, should Amazon ever echo it back in an error message."""
    return text.replace(token, "[token]") if token else text
