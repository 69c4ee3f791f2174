"""The aiohttp application: the API families, route table, SP-API headers, error rendering."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from spapi_emulator import auth_routes, errors, hostile
from spapi_emulator.direct_fulfillment import routes as direct_fulfillment_routes
from spapi_emulator.direct_fulfillment.dataset import DIRECT_FULFILLMENT
from spapi_emulator.invoices import routes as invoices_routes
from spapi_emulator.invoices.exports import INVOICES_API
from spapi_emulator.paths import STATS_PATH
from spapi_emulator.pipeline import OPERATION_KEY, PARTNER_KEY, RESET_KEY, STATE_KEY
from spapi_emulator.state import EmulatorState
from spapi_emulator.stats import CONNECTION_RESET

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler

    from spapi_emulator.families import Family

# The models declare x-amzn-RateLimit-Limit on 200, 400 and 404 answers only (and on the
# 202 of createInvoicesExport).
_RATE_LIMIT_HEADER_STATUSES = frozenset({200, 202, 400, 404})
# Requests that match no route are counted under this name.
UNMATCHED = "unmatched"
# The API families the app serves: their state in each selling partner's EmulatorState.
FAMILIES: tuple[Family[Any], ...] = (DIRECT_FULFILLMENT, INVOICES_API)


def format_rate(rate: float) -> str:
    """Return a rate as ``x-amzn-RateLimit-Limit`` shows it, e.g. ``10.0`` or ``0.0167``.

    Args:
        rate: Requests per second.

    Returns:
        The header value.

    """
    return str(round(rate, 4))


def _router_error(exc: web.HTTPException) -> errors.ApiError:
    if exc.status == web.HTTPNotFound.status_code:
        return errors.ApiError(exc.status, "NotFound", "The resource specified does not exist.")
    return errors.ApiError(exc.status, exc.reason.replace(" ", ""), exc.reason)


@web.middleware
async def _sp_api_middleware(
    request: web.Request,
    handler: Handler,
) -> web.StreamResponse:
    """Render errors as SP-API JSON, stamp the SP-API headers and count the request."""
    state = request.app[STATE_KEY]
    try:
        response = await handler(request)
    except errors.ApiError as exc:
        response = exc.response()
    except web.HTTPException as exc:
        response = _router_error(exc).response()
    # Every SP-API answer declares x-amzn-RequestId; support cases quote it.
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    hostile.add_retry_after(response, state.config)
    operation = request.get(OPERATION_KEY)
    if operation is not None and response.status in _RATE_LIMIT_HEADER_STATUSES:
        plan = state.config.operation_rate(operation)
        if plan is not None:
            response.headers["x-amzn-RateLimit-Limit"] = format_rate(plan[0])
    if request.path != STATS_PATH:
        status = CONNECTION_RESET if request.get(RESET_KEY) else response.status
        request.get(PARTNER_KEY, state).stats.record(operation or UNMATCHED, status)
    return response


async def _stats(request: web.Request) -> web.Response:
    """``GET /_emulator/stats``: request counters and bucket settings (emulator only)."""
    return errors.json_response(request.app[STATE_KEY].stats_snapshot())


def create_app(state: EmulatorState | None = None) -> web.Application:
    """Return the emulator's aiohttp application.

    Args:
        state: The emulator state, built with ``FAMILIES``; a default one
            (``EmulatorConfig()``) when None.

    Returns:
        The application, ready for ``web.AppRunner`` or aiohttp's test utilities.

    """
    app = web.Application(middlewares=[_sp_api_middleware])
    app[STATE_KEY] = state if state is not None else EmulatorState(families=FAMILIES)
    auth_routes.add_routes(app)
    direct_fulfillment_routes.add_routes(app)
    invoices_routes.add_routes(app)
    app.router.add_get(STATS_PATH, _stats, allow_head=False)
    return app
