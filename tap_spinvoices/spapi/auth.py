"""Login with Amazon access tokens and Restricted Data Tokens: cached, single-flight, never logged.

Tokens outlive event loops (one per partition), so they sit in a thread-safe ``TokenStore``
created once per tap run; the providers and their asyncio locks live inside one loop.
Secrets, access tokens and RDTs never reach a log line or an exception message: logs carry
a ``fingerprint()`` at most.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol
from urllib.parse import urlencode, urlsplit

import aiohttp
from typing_extensions import override

from tap_spinvoices.errors import AuthError, RetriesExhaustedError
from tap_spinvoices.spapi.bodies import BodyTooLargeError, read_bounded
from tap_spinvoices.spapi.operations import LWA_TOKEN_URL, TOKEN_LIFETIME_S
from tap_spinvoices.spapi.responses import json_object
from tap_spinvoices.spapi.retry import RETRYABLE_STATUSES, RetryPolicy

__all__ = [
    "AccessTokenSource",
    "LwaTokenProvider",
    "RestrictedDataTokenProvider",
    "TokenStore",
    "fingerprint",
]

LOGGER = logging.getLogger(__name__)

# Few attempts: LWA is one call per hour, and a long outage should fail the run quickly.
LWA_RETRY_POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=5.0)
# A token answer is a few hundred bytes; anything this long is not Login with Amazon's.
LWA_BODY_BYTES = 1 << 20

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def fingerprint(secret: str) -> str:
    """Return a short, non-reversible tag for logging a token (first 6 hex of its sha256)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:6]


class AccessTokenSource(Protocol):
    """What the client needs from an access-token provider (LwaTokenProvider or a fake)."""

    async def access_token(self) -> str:
        """Return a valid access token."""
        ...

    def invalidate(self, token: str) -> None:
        """Forget ``token`` because Amazon reported it expired."""
        ...


@dataclass(frozen=True, slots=True)
class _CachedToken:
    token: str
    fresh_until: float  # on the providers' monotonic clock; refresh from then on


class TokenStore:
    """Thread-safe cache of tokens shared by every event loop of one tap run."""

    def __init__(self) -> None:
        """Build an empty store."""
        self._lock = threading.Lock()
        self._tokens: dict[str, _CachedToken] = {}

    def get(self, key: str, now: float) -> str | None:
        """Return the token cached under ``key`` unless it is due for refresh at ``now``."""
        with self._lock:
            cached = self._tokens.get(key)
        return cached.token if cached is not None and now < cached.fresh_until else None

    def put(self, key: str, token: str, fresh_until: float) -> None:
        """Cache ``token`` under ``key`` until ``fresh_until``."""
        with self._lock:
            self._tokens[key] = _CachedToken(token, fresh_until)

    def discard(self, key: str, token: str) -> bool:
        """Drop ``key`` only if it still holds ``token``; return whether it did.

        When N tasks see the same token expire, the first drops it and the others find a
        newer token (or none yet) and leave it be, so only one refresh happens.
        """
        with self._lock:
            cached = self._tokens.get(key)
            if cached is None or cached.token != token:
                return False
            del self._tokens[key]
            return True

    @override
    def __repr__(self) -> str:
        """Describe the store without showing any token."""
        return f"<TokenStore with {len(self._tokens)} token(s)>"


class _SingleFlightCache:
    """Read-through cache over a TokenStore where concurrent misses cause one fetch per key."""

    def __init__(self, store: TokenStore, clock: Clock, margin: float) -> None:
        self._store = store
        self._clock = clock
        self._margin = margin
        self._loop: asyncio.AbstractEventLoop | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    def cached(self, key: str) -> str | None:
        """The token under ``key`` while fresh, else None (then call ``get_or_fetch``)."""
        return self._store.get(key, self._clock())

    async def get_or_fetch(
        self, key: str, fetch: Callable[[], Awaitable[tuple[str, float]]]
    ) -> str:
        if (token := self._store.get(key, self._clock())) is not None:
            return token
        async with self._lock(key):
            # Whoever held the lock before us may have fetched it already.
            if (token := self._store.get(key, self._clock())) is not None:
                return token
            requested_at = self._clock()
            token, expires_in = await fetch()
            self._store.put(key, token, requested_at + self._fresh_for(expires_in))
            return token

    def discard(self, key: str, token: str) -> bool:
        return self._store.discard(key, token)

    def _fresh_for(self, expires_in: float) -> float:
        # Refresh `margin` seconds early so a token never expires on the wire; a token that
        # lives less than twice the margin is still used for half its life.
        return max(expires_in - self._margin, expires_in / 2)

    def _lock(self, key: str) -> asyncio.Lock:
        # asyncio locks bind to the loop that first uses them: create them lazily inside the
        # running loop, and afresh if this object is ever used from another loop.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._locks = loop, {}
        if key not in self._locks:
            self._locks[key] = asyncio.Lock()
        return self._locks[key]


class LwaTokenProvider:
    """Login with Amazon access tokens from a refresh token (grant_type=refresh_token).

    ``access_token()`` returns the cached token until ``margin`` seconds before it expires;
    then exactly one caller POSTs to LWA while the others wait for its answer.
    """

    def __init__(  # noqa: PLR0913 - credentials plus injectable clock/sleep/random for tests
        self,
        session: aiohttp.ClientSession,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        store: TokenStore,
        token_url: str = LWA_TOKEN_URL,
        clock: Clock = time.monotonic,
        margin: float = 60.0,
        policy: RetryPolicy = LWA_RETRY_POLICY,
        timeout_s: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = random.random,
        logger: logging.Logger = LOGGER,
    ) -> None:
        """Build a provider for one event loop; ``store`` carries the token across loops."""
        self._session = session
        self._token_url = token_url
        self._form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._secrets = (client_secret, refresh_token)
        # The key tells refresh tokens apart without holding one in clear.
        self._key = f"lwa:{fingerprint(client_id + refresh_token)}"
        self._cache = _SingleFlightCache(store, clock, margin)
        self._policy = policy
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._sleep = sleep
        self._random = random
        self._log = logger

    async def access_token(self) -> str:
        """Return a valid LWA access token, refreshing it if it is near expiry.

        Raises:
            AuthError: LWA rejected the credentials (invalid_grant, invalid_client, ...).
            RetriesExhaustedError: LWA kept failing (5xx, 429, connection errors).

        """
        # Every request asks twice; the cached token needs no coroutine of the cache's.
        if (token := self._cache.cached(self._key)) is not None:
            return token
        return await self._cache.get_or_fetch(self._key, self._request_token)

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (reported expired) if it is still the cached one."""
        if self._cache.discard(self._key, token):
            self._log.debug("LWA access token %s dropped as expired", fingerprint(token))

    async def _request_token(self) -> tuple[str, float]:
        faults = 0
        while True:
            try:
                outcome = await self._try_request_token()
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome = type(exc).__name__
            if not isinstance(outcome, str):
                return outcome
            faults += 1
            if not self._policy.may_retry(faults=faults, throttles=0):
                host = urlsplit(self._token_url).netloc
                raise RetriesExhaustedError(
                    f"LWA token request to {host} failed {faults} times; last: {outcome}"
                )
            delay = self._policy.delay(faults, self._random())
            self._log.info("LWA token request failed (%s); retry in %.1f s", outcome, delay)
            await self._sleep(delay)

    async def _try_request_token(self) -> tuple[str, float] | str:
        """POST once; return (token, expires_in), or a transient problem's description."""
        async with self._session.post(
            self._token_url,
            data=urlencode(self._form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
            timeout=self._timeout,
        ) as response:
            status = response.status
            try:
                body = await read_bounded(response, LWA_BODY_BYTES)
            except BodyTooLargeError:
                msg = (
                    f"LWA answered a token request with more than {LWA_BODY_BYTES >> 20} MB "
                    f"(HTTP {status}): that is not Login with Amazon's answer (a few hundred "
                    "bytes). Fix: check lwa_token_url"
                )
                raise AuthError(msg) from None
        if status in RETRYABLE_STATUSES:
            return f"HTTP {status}"
        answer = json_object(body) or {}  # an HTML error page tells no more than its status
        if status != HTTPStatus.OK:
            raise self._refusal(status, answer)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            return "HTTP 200 without an access_token"
        expires_in = _seconds(answer.get("expires_in"))
        self._log.debug(
            "LWA access token %s issued, expires in %.0f s", fingerprint(token), expires_in
        )
        return token, expires_in

    def _refusal(self, status: int, answer: dict[str, object]) -> AuthError:
        error = str(answer.get("error", "")).strip()
        if error == "invalid_grant":
            return AuthError(
                "LWA: refresh_token was rejected (invalid_grant): the seller/vendor must "
                "re-authorise the app and you must update refresh_token"
            )
        if error == "invalid_client" or status == HTTPStatus.UNAUTHORIZED:
            return AuthError(
                "LWA: client authentication failed (invalid_client): check lwa_client_id and "
                "lwa_client_secret (was the client secret rotated?)"
            )
        description = str(answer.get("error_description", ""))[:200]
        text = (
            f"LWA refused the token request: HTTP {status} {error[:40] or 'error'}: "
            f"{description}. Check lwa_client_id, lwa_client_secret and refresh_token"
        )
        for secret in self._secrets:  # LWA might echo a parameter back: never repeat a secret
            text = text.replace(secret, "[redacted]")
        return AuthError(text)


class RestrictedDataTokenProvider:
    """Restricted Data Tokens cached per resource path until near expiry, one mint per path.

    ``mint(path)`` returns ``(rdt, expires_in)``; the client supplies it because minting is
    an SP-API call (createRestrictedDataToken) paced and retried like the others.
    """

    def __init__(
        self,
        mint: Callable[[str], Awaitable[tuple[str, float]]],
        *,
        store: TokenStore,
        clock: Clock = time.monotonic,
        margin: float = 60.0,
        logger: logging.Logger = LOGGER,
    ) -> None:
        """Build a provider for one event loop; ``store`` carries the RDTs across loops."""
        self._mint = mint
        self._cache = _SingleFlightCache(store, clock, margin)
        self._log = logger

    async def token_for(self, path: str) -> str:
        """Return a valid RDT for GET ``path`` (leading slash, no query)."""
        key = f"rdt:{path}"
        # Every request asks twice: answer from the cache before building the mint closure.
        if (token := self._cache.cached(key)) is not None:
            return token

        async def mint() -> tuple[str, float]:
            token, expires_in = await self._mint(path)
            self._log.debug("RDT %s minted for %s", fingerprint(token), path)
            return token, expires_in

        return await self._cache.get_or_fetch(key, mint)

    def invalidate(self, path: str, token: str) -> None:
        """Forget the RDT for ``path`` (reported expired) if it is still the cached one."""
        if self._cache.discard(f"rdt:{path}", token):
            self._log.debug("RDT %s for %s dropped as expired", fingerprint(token), path)


def _seconds(value: object) -> float:
    """Read an ``expires_in`` value, defaulting to an hour when it is missing or odd."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return TOKEN_LIFETIME_S
