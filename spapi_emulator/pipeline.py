"""The per-request path every SP-API operation shares: latency, faults, auth, quota, handler.

Order matters and follows the real service: infrastructure faults come first, then the
``x-amz-access-token`` check (403 carries no rate-limit header because it is answered before
the usage plan is known), then the usage-plan bucket (429), then the operation's own
validation (400) and answer (200). Before all of them, the test gate (``gate.py``, no part
of the real service) may hold the request at a point of the client's progress.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING

from aiohttp import web

from spapi_emulator import errors
from spapi_emulator.faults import Fault
from spapi_emulator.state import EmulatorState
from spapi_emulator.tokens import TokenKind, TokenStatus

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from spapi_emulator.tokens import IssuedToken

    Handler = Callable[[web.Request, EmulatorState], Awaitable[web.StreamResponse]]
    Authorizer = Callable[[web.Request, EmulatorState], None]

STATE_KEY = web.AppKey("spapi_emulator_state", EmulatorState)
OPERATION_KEY = web.RequestKey("spapi_emulator_operation", str)
RESET_KEY = web.RequestKey("spapi_emulator_reset", bool)
# The selling partner's state a request was served from (its counters and buckets).
PARTNER_KEY = web.RequestKey("spapi_emulator_partner", EmulatorState)


def operation(
    name: str,
    *,
    authorize: Authorizer | None = None,
    inject_faults: bool = True,
    fail_once_503: Callable[[EmulatorState], bool] | None = None,
) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Wrap an operation handler in the shared request path.

    Args:
        name: The operationId (keys the usage plan and the stats).
        authorize: Raises ``ApiError`` 403 unless the request's token may call the operation.
        inject_faults: Apply the configured resets, 5xx, slow answers and malformed JSON.
        fail_once_503: Returns True when this call must answer 503 (``rdt_fail_once_503``).

    Returns:
        A decorator turning ``handler(request, state)`` into an aiohttp handler.

    """

    def decorate(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            # Each selling partner has its own buckets and data: the token says whose call it is.
            state = request.app[STATE_KEY].partner_for_access_token(
                request.headers.get("x-amz-access-token")
            )
            request[PARTNER_KEY] = state
            request[OPERATION_KEY] = name
            await state.gate.pass_through()
            if request.transport is None or request.transport.is_closing():
                return _abort(request)  # its client left while the gate held it
            if await _infrastructure(state, inject_faults=inject_faults):
                return _abort(request)
            if fail_once_503 is not None and fail_once_503(state):
                raise errors.service_unavailable()
            if authorize is not None:
                authorize(request, state)
            if name in state.config.denied_operations:
                raise errors.unauthorized()  # the app lacks this operation's role
            if not state.limiter.try_acquire(name):
                raise errors.quota_exceeded()
            response = await handler(request, state)
            if inject_faults and response.status == web.HTTPOk.status_code:
                _maybe_truncate(response, state)
            return response

        return wrapped

    return decorate


async def _infrastructure(state: EmulatorState, *, inject_faults: bool) -> bool:
    """Apply latency and the drawn fault; return True when the connection must be dropped.

    Raises:
        ApiError: 500 or 503 for an injected server error.

    """
    delay = state.faults.latency_seconds()
    if inject_faults:
        delay += state.faults.slow_seconds()
    if delay > 0:
        await asyncio.sleep(delay)
    fault = state.faults.draw() if inject_faults else Fault.NONE
    if fault is Fault.INTERNAL_ERROR:
        raise errors.internal_failure()
    if fault is Fault.SERVICE_UNAVAILABLE:
        raise errors.service_unavailable()
    return fault is Fault.RESET


def require_access_token(request: web.Request, state: EmulatorState) -> None:
    """Authorize a non-restricted operation: a valid LWA access token is required.

    Args:
        request: The request; its ``x-amz-access-token`` header is checked.
        state: The emulator state.

    Raises:
        ApiError: 403 Unauthorized, with the expired/invalid details of the real service.

    """
    token = _valid_token(request, state)
    if token.kind is not TokenKind.ACCESS:
        # An RDT only opens the restricted paths it was minted for.
        raise errors.unauthorized()


def require_restricted_token(request: web.Request, state: EmulatorState) -> None:
    """Authorize a restricted operation: an RDT minted for this exact path (Tokens API).

    With ``require_rdt`` off a plain LWA access token is accepted too, as the real service
    still does for some restricted operations: Amazon withdrew its notice that LWA tokens
    would stop returning PII
    (https://developer-docs.amazon.com/sp-api/changelog/update-discontinued-support-lwa-tokens-can-no-longer-retrieve-pii-in-selling-partner-api).

    Args:
        request: The request; its ``x-amz-access-token`` header and path are checked.
        state: The emulator state.

    Raises:
        ApiError: 403 Unauthorized.

    """
    token = _valid_token(request, state)
    if token.kind is TokenKind.RESTRICTED:
        allowed = request.method == "GET" and request.path in token.paths
    else:
        allowed = not state.config.require_rdt
    if not allowed:
        raise errors.unauthorized()


def _valid_token(request: web.Request, state: EmulatorState) -> IssuedToken:
    status, token = state.tokens.lookup(request.headers.get("x-amz-access-token"))
    if status is TokenStatus.EXPIRED:
        raise errors.unauthorized(errors.TOKEN_EXPIRED)
    if token is None or status is not TokenStatus.VALID:
        raise errors.unauthorized(errors.TOKEN_INVALID)
    return token


def _abort(request: web.Request) -> web.StreamResponse:
    """Drop the connection without an answer; aiohttp then writes nothing."""
    request[RESET_KEY] = True
    if request.transport is not None:
        request.transport.abort()
    return web.Response()


def _maybe_truncate(response: web.StreamResponse, state: EmulatorState) -> None:
    """Cut a 200 JSON body in half (``malformed_json_rate``): a broken proxy or connection."""
    if not isinstance(response, web.Response):
        return
    body = response.body
    if isinstance(body, bytes) and state.faults.malformed():
        response.body = body[: len(body) // 2]
