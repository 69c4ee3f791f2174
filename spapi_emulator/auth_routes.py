"""Login with Amazon (``POST /auth/o2/token``) and createRestrictedDataToken (Tokens API)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from spapi_emulator import errors
from spapi_emulator.config import CREATE_RESTRICTED_DATA_TOKEN, LWA_TOKEN
from spapi_emulator.paths import LWA_TOKEN_PATH, RESTRICTED_DATA_TOKEN_PATH, RESTRICTED_PATHS
from spapi_emulator.pipeline import operation, require_access_token

if TYPE_CHECKING:
    from aiohttp import web

    from spapi_emulator.state import EmulatorState

# createRestrictedDataToken accepts at most 50 restricted resources (tokens_2021-03-01 model).
MAX_RESTRICTED_RESOURCES = 50
_METHODS = frozenset({"GET", "PUT", "POST", "DELETE"})


def _lwa_error(status: int, error: str, description: str) -> web.Response:
    """Return an LWA (OAuth 2.0) error: ``{"error", "error_description"}``, not SP-API shape."""
    return errors.json_response({"error_description": description, "error": error}, status)


def _missing(name: str) -> web.Response:
    return _lwa_error(
        400, "invalid_request", f"The request is missing a required parameter : {name}"
    )


async def _read_lwa_form(request: web.Request) -> dict[str, str]:
    """Read the token request: form-encoded like the docs, JSON accepted as LWA also does."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@operation(LWA_TOKEN, inject_faults=False)
async def lwa_token(request: web.Request, state: EmulatorState) -> web.Response:
    """Exchange a refresh token for an access token (grant_type=refresh_token).

    Checked like LWA: grant type, then client authentication (401 invalid_client), then the
    refresh token (400 invalid_grant).

    Args:
        request: The token request.
        state: The emulator state.

    Returns:
        200 ``{"access_token", "refresh_token", "token_type", "expires_in"}`` or an LWA error.

    """
    form = await _read_lwa_form(request)
    config = state.config
    grant_type = form.get("grant_type")
    if not grant_type:
        return _missing("grant_type")
    if grant_type != "refresh_token":
        return _lwa_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server",
        )
    if form.get("client_id") != config.client_id or (
        form.get("client_secret") != config.client_secret
    ):
        return _lwa_error(401, "invalid_client", "Client authentication failed")
    refresh_token = form.get("refresh_token")
    if not refresh_token:
        return _missing("refresh_token")
    partner = state.partner_for_refresh_token(refresh_token)
    if partner is None:
        return _lwa_error(
            400, "invalid_grant", "The request has an invalid grant parameter : refresh_token"
        )
    await state.rendezvous(partner)
    # The access token opens the data and buckets of the partner who granted this token.
    token = state.tokens.issue_access_token(config.access_token_ttl, partner.selling_partner_id)
    return errors.json_response(
        {
            "access_token": token.value,
            "refresh_token": refresh_token,
            "token_type": "bearer",
            "expires_in": int(config.access_token_ttl),
        }
    )


def _invalid_request() -> errors.ApiError:
    # Wording of the Tokens static sandbox's 400 for a resource without a method.
    return errors.ApiError(
        400,
        "InvalidRequest",
        "Request is missing or has invalid parameters",
        "Resource not provided.",
    )


def _restricted_paths(body: object) -> list[str]:
    """Validate a CreateRestrictedDataTokenRequest and return its paths.

    Raises:
        ApiError: 400 as the real Tokens API answers: "Could not match input arguments" for
            a path without its leading slash (amzn/selling-partner-api-models#434), and
            dataElements refused on DF paths (amzn/selling-partner-api-docs#2603).

    """
    resources = body.get("restrictedResources") if isinstance(body, dict) else None
    if not isinstance(resources, list) or not 1 <= len(resources) <= MAX_RESTRICTED_RESOURCES:
        raise _invalid_request()
    paths: list[str] = []
    for resource in resources:
        if not isinstance(resource, dict):
            raise _invalid_request()
        method, path = resource.get("method"), resource.get("path")
        if method not in _METHODS or not isinstance(path, str) or not path:
            raise _invalid_request()
        # The path is the API path alone: leading "/", no host, no query string.
        if method != "GET" or path not in RESTRICTED_PATHS:
            raise errors.invalid_input(errors.RDT_PATH_MISMATCH)
        # dataElements exist for the Orders API only; DF paths refuse them.
        data_elements = resource.get("dataElements")
        if data_elements:
            listed = ", ".join(map(str, data_elements)) if isinstance(data_elements, list) else ""
            raise errors.invalid_input(
                "Application does not have access to one or more requested data elements: "
                f"[{listed}]"
            )
        paths.append(path)
    return paths


@operation(
    CREATE_RESTRICTED_DATA_TOKEN,
    authorize=require_access_token,
    fail_once_503=lambda state: state.faults.take_rdt_503(),
)
async def create_restricted_data_token(request: web.Request, state: EmulatorState) -> web.Response:
    """Mint an RDT for the requested restricted paths (Tokens API createRestrictedDataToken).

    Args:
        request: Body ``{"restrictedResources": [{"method": "GET", "path": ...}]}``.
        state: The emulator state.

    Returns:
        200 ``{"restrictedDataToken": "Atz.sprdt|...", "expiresIn": seconds}``.

    Raises:
        ApiError: 400 for invalid resources, or when ``rdt_denied`` emulates a missing role.

    """
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise _invalid_request() from None
    paths = _restricted_paths(body)
    if state.config.rdt_denied:
        # The answer when the app lacks the Direct-to-Consumer Shipping (Restricted) role or
        # the vendor did not re-authorize after it was added (amzn/selling-partner-api-docs#1396,
        # amzn/selling-partner-api-models#4382).
        raise errors.invalid_input(errors.RDT_ACCESS_DENIED)
    token = state.tokens.issue_restricted_data_token(
        paths, state.config.rdt_ttl, state.selling_partner_id
    )
    return errors.json_response(
        {"restrictedDataToken": token.value, "expiresIn": int(state.config.rdt_ttl)}
    )


def add_routes(app: web.Application) -> None:
    """Register the LWA and Tokens API routes.

    Args:
        app: The emulator app.

    """
    app.router.add_post(LWA_TOKEN_PATH, lwa_token)
    app.router.add_post(RESTRICTED_DATA_TOKEN_PATH, create_restricted_data_token)
