"""SP-API error bodies: ``{"errors": [{"code", "message", "details"}]}`` with the real wording."""

from __future__ import annotations

from enum import StrEnum

import orjson
from aiohttp import web

# Wording of the real service as quoted in the SP-API models' examples and in issue threads
# (e.g. amzn/selling-partner-api-models#230, #2256, #4946); messages, not secrets.
# ruff: noqa: S105
ACCESS_DENIED = "Access to requested resource is denied."
TOKEN_EXPIRED = "The access token you provided has expired."
TOKEN_INVALID = "The access token you provided is revoked, malformed or invalid."
QUOTA_EXCEEDED = "You exceeded your quota for the requested resource."
NEXT_TOKEN_INVALID = "Next token is invalid or expired"


class NextTokenRefusal(StrEnum):
    """Whose wording a refused nextToken takes (EmulatorConfig.next_token_refusal)."""

    FBA_INVENTORY = "fba-inventory"
    FINANCES_2024 = "finances-2024"
    FINANCES_V0 = "finances-v0"
    ORDERS = "orders"


# How each SP-API words a refused nextToken, as public reports quote them. No public wording
# exists for Vendor Direct Fulfillment or the Invoices API, so the emulator plays each one.
NEXT_TOKEN_REFUSALS: dict[NextTokenRefusal, str] = {
    # FBA Inventory getInventorySummaries (amzn/selling-partner-api-models#4946)
    NextTokenRefusal.FBA_INVENTORY: NEXT_TOKEN_INVALID,
    # Finances 2024-06-19: reported to the project; we located no public source.
    NextTokenRefusal.FINANCES_2024: "Next token has expired.",
    # Finances v0 listFinancialEvents: "... is 25 minutes." (amzn/selling-partner-api-models
    # #562), "... is 3 minutes." (jlevers/selling-partner-api#239)
    NextTokenRefusal.FINANCES_V0: "Token is not valid, token duration is 25 minutes.",
    # Orders v0 getOrders (amzn/selling-partner-api-models#2387)
    NextTokenRefusal.ORDERS: (
        "We could not decode your NextToken. Possible reasons include: a transmission error, "
        "improper quoting or a truncation problem."
    ),
}
SEVEN_DAY_RANGE = "The date range to search must be no more than 7 days."
RDT_PATH_MISMATCH = "Could not match input arguments"
RDT_ACCESS_DENIED = "Application do not have access to some or all requested resource"


def json_response(body: object, status: int = 200) -> web.Response:
    """Return a JSON response serialized with orjson.

    Args:
        body: A JSON-serializable value.
        status: HTTP status.

    Returns:
        The response, ``Content-Type: application/json``.

    """
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class ApiError(Exception):
    """An SP-API error answer; raised by handlers, rendered by the app's middleware."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        """Describe the error.

        Args:
            status: HTTP status.
            code: Error code, e.g. ``InvalidInput``.
            message: Human-readable message.
            details: Extra details (the real service sends ``""`` when it has none).

        """
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, list[dict[str, str]]]:
        """Return the wire body, shaped like the models' ``ErrorList``."""
        return {"errors": [{"code": self.code, "message": self.message, "details": self.details}]}

    def response(self) -> web.Response:
        """Return the error as an HTTP response."""
        return json_response(self.body(), status=self.status)


def invalid_input(message: str) -> ApiError:
    """Return a 400 ``InvalidInput`` error (the code DF and Tokens validation use)."""
    return ApiError(400, "InvalidInput", message)


def unauthorized(details: str = "") -> ApiError:
    """Return a 403 ``Unauthorized`` error ("Access to requested resource is denied.")."""
    return ApiError(403, "Unauthorized", ACCESS_DENIED, details)


def quota_exceeded() -> ApiError:
    """Return the 429 ``QuotaExceeded`` error of an empty usage-plan bucket."""
    return ApiError(429, "QuotaExceeded", QUOTA_EXCEEDED)


def internal_failure() -> ApiError:
    """Return a 500 ``InternalFailure`` error (injected fault)."""
    return ApiError(500, "InternalFailure", "We encountered an internal error. Please try again.")


def service_unavailable() -> ApiError:
    """Return a 503 ``ServiceUnavailable`` error (injected fault)."""
    return ApiError(503, "ServiceUnavailable", "Service temporarily unavailable. Please try again.")
