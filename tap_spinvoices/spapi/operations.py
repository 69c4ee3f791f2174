"""Every SP-API operation the tap calls: method, path, role, RDT and usage plan, with sources.

This table is the only place the tap states these facts about Amazon; rate budgets
(ratelimits.py), the client's error messages (client.py) and the streams read them from here.
Sources:

- The models vendored in ``tests/spapi_models/`` (verbatim copies of
  https://github.com/amzn/selling-partner-api-models, provenance in its SOURCE.md) give the
  operationId, method and path of every operation; tests/unit/test_operations.py checks the
  table against them, and the usage plans against the models that still print one.
- The Invoices API model lost its "Usage Plan" tables in July 2026; its rates and bursts are
  those of the same file at commit 2db0db7 (``INVOICES_PLAN_SOURCE``), unchanged since the
  model's first version.
- Roles: the Tokens API use case guide lists getCustomerInvoices as restricted (an RDT is
  needed) under the Direct-to-Consumer Shipping (Restricted) role; the Invoices API guide asks
  only for the Tax Invoicing (Restricted) role and never for an RDT (docs/quirks.md).

The emulator keeps its own usage plans (spapi_emulator/config.py) on purpose, as an
independent check: tests/unit/test_operations.py compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CREATE_INVOICES_EXPORT",
    "CREATE_RESTRICTED_DATA_TOKEN",
    "CUSTOMER_INVOICES_BY_VERSION",
    "CUSTOMER_INVOICES_OPERATION_ID",
    "DEVELOPER_GUIDE",
    "DF_SHIPPING_2021_MODEL",
    "DF_SHIPPING_V1_MODEL",
    "DIRECT_TO_CONSUMER_SHIPPING",
    "GET_CUSTOMER_INVOICES_2021_12_28",
    "GET_CUSTOMER_INVOICES_V1",
    "GET_INVOICES",
    "GET_INVOICES_DOCUMENT",
    "GET_INVOICES_EXPORT",
    "GET_INVOICES_EXPORTS",
    "INVOICES_API_GUIDE",
    "INVOICES_MODEL",
    "INVOICES_PLAN_SOURCE",
    "LWA_TOKEN_URL",
    "OPERATIONS",
    "TAX_INVOICING",
    "TOKENS_API_GUIDE",
    "TOKENS_MODEL",
    "TOKEN_LIFETIME_S",
    "USAGE_PLANS",
    "Operation",
    "UsagePlan",
    "customer_invoices",
    "role_for_restricted_path",
    "role_of",
]

DIRECT_TO_CONSUMER_SHIPPING: Final = "Direct-to-Consumer Shipping (Restricted)"
TAX_INVOICING: Final = "Tax Invoicing (Restricted)"

DEVELOPER_GUIDE: Final = (
    "https://github.com/amzn/selling-partner-api-docs/blob/"
    "c2888de06b0ad6961a7c95560cfddebd36ac530f/guides/en-US/developer-guide/"
    "SellingPartnerApiDeveloperGuide.md"
)
TOKENS_API_GUIDE: Final = "https://developer-docs.amazon.com/sp-api/docs/tokens-api-use-case-guide"
INVOICES_API_GUIDE: Final = "https://developer-docs.amazon.com/sp-api/docs/invoices-api"
INVOICES_PLAN_SOURCE: Final = (
    "https://github.com/amzn/selling-partner-api-models/blob/"
    "2db0db78908a97fdc9f5088ebf3a8060b972fcb5/models/invoices-api-model/"
    "InvoicesApiModel_2024-06-19.json"
)

# Login with Amazon: not an SP-API operation (no usage plan, another host), the one call that
# turns a refresh token into access tokens (grant_type=refresh_token), DEVELOPER_GUIDE.
LWA_TOKEN_URL: Final = "https://api.amazon.com/auth/o2/token"  # noqa: S105 - a URL, not a secret
# LWA access tokens and RDTs both live one hour (expires_in 3600 in DEVELOPER_GUIDE, expiresIn 3600
# in tokens_2021-03-01.json): the lifetime assumed when an answer does not say.
TOKEN_LIFETIME_S: Final = 3600.0

# Files under tests/spapi_models/.
DF_SHIPPING_V1_MODEL: Final = "vendorDirectFulfillmentShippingV1.json"
DF_SHIPPING_2021_MODEL: Final = "vendorDirectFulfillmentShipping_2021-12-28.json"
TOKENS_MODEL: Final = "tokens_2021-03-01.json"
INVOICES_MODEL: Final = "InvoicesApiModel_2024-06-19.json"


@dataclass(frozen=True, slots=True)
class UsagePlan:
    """Amazon's token bucket for one operation."""

    rate: float  #: requests per second the bucket refills
    burst: int  #: bucket size: requests that may be sent back to back


@dataclass(frozen=True, slots=True)
class Operation:
    """One SP-API operation as the tap calls it."""

    name: str  #: operationId; rate budgets, metrics and logs are keyed by it
    method: str  #: HTTP method
    path: str  #: path template, ``{name}`` for path parameters, as in the model
    role: str | None  #: role the app needs; None: any authorised app may call it
    restricted: bool  #: sent with a Restricted Data Token minted for the path
    plan: UsagePlan  #: default usage plan
    model: str  #: the model under tests/spapi_models/ defining method and path
    plan_source: str  #: where the usage plan is printed: that model or a URL
    role_source: str  #: where the role and the restriction are stated

    def path_for(self, **values: str) -> str:
        """Return the path with its ``{parameters}`` filled in (the client URL-encodes it)."""
        path = self.path
        for name, value in values.items():
            placeholder = f"{{{name}}}"
            if placeholder not in path:
                raise ValueError(f"{self.name} has no path parameter {name!r}")
            path = path.replace(placeholder, value)
        if "{" in path:
            raise ValueError(f"{self.name}: path parameters missing in {path!r}")
        return path


# operationId of both getCustomerInvoices versions: they share one rate budget.
CUSTOMER_INVOICES_OPERATION_ID: Final = "getCustomerInvoices"
_DF_PLAN = UsagePlan(rate=10.0, burst=10)  # "Rate 10, Burst 10" in both DF Shipping models


def _customer_invoices(version: str, model: str) -> Operation:
    return Operation(
        name=CUSTOMER_INVOICES_OPERATION_ID,
        method="GET",
        path=f"/vendor/directFulfillment/shipping/{version}/customerInvoices",
        role=DIRECT_TO_CONSUMER_SHIPPING,
        restricted=True,
        plan=_DF_PLAN,
        model=model,
        plan_source=model,
        role_source=TOKENS_API_GUIDE,
    )


def _invoices_api(name: str, method: str, path: str, plan: UsagePlan) -> Operation:
    return Operation(
        name=name,
        method=method,
        path=f"/tax/invoices/2024-06-19{path}",
        role=TAX_INVOICING,
        restricted=False,
        plan=plan,
        model=INVOICES_MODEL,
        plan_source=INVOICES_PLAN_SOURCE,
        role_source=INVOICES_API_GUIDE,
    )


GET_CUSTOMER_INVOICES_V1: Final = _customer_invoices("v1", DF_SHIPPING_V1_MODEL)
GET_CUSTOMER_INVOICES_2021_12_28: Final = _customer_invoices("2021-12-28", DF_SHIPPING_2021_MODEL)
CREATE_RESTRICTED_DATA_TOKEN: Final = Operation(
    name="createRestrictedDataToken",
    method="POST",
    path="/tokens/2021-03-01/restrictedDataToken",
    role=None,
    restricted=False,
    plan=UsagePlan(rate=1.0, burst=10),
    model=TOKENS_MODEL,
    plan_source=TOKENS_MODEL,
    role_source=TOKENS_API_GUIDE,
)
GET_INVOICES_EXPORTS: Final = _invoices_api(
    "getInvoicesExports", "GET", "/exports", UsagePlan(rate=0.1, burst=20)
)
GET_INVOICES_EXPORT: Final = _invoices_api(
    "getInvoicesExport", "GET", "/exports/{exportId}", UsagePlan(rate=2.0, burst=15)
)
CREATE_INVOICES_EXPORT: Final = _invoices_api(
    # 0.167 requests/s in the model: one every 6 s.
    "createInvoicesExport",
    "POST",
    "/exports",
    UsagePlan(rate=1 / 6, burst=1),
)
GET_INVOICES_DOCUMENT: Final = _invoices_api(
    # 0.0167 requests/s in the model: one a minute.
    "getInvoicesDocument",
    "GET",
    "/documents/{invoicesDocumentId}",
    UsagePlan(rate=1 / 60, burst=1),
)
GET_INVOICES: Final = _invoices_api(
    "getInvoices", "GET", "/invoices", UsagePlan(rate=0.1, burst=20)
)

OPERATIONS: Final[tuple[Operation, ...]] = (
    GET_CUSTOMER_INVOICES_V1,
    GET_CUSTOMER_INVOICES_2021_12_28,
    CREATE_RESTRICTED_DATA_TOKEN,
    GET_INVOICES_EXPORTS,
    GET_INVOICES_EXPORT,
    CREATE_INVOICES_EXPORT,
    GET_INVOICES_DOCUMENT,
    GET_INVOICES,
)

# getCustomerInvoices by the version a run asks for (setting df_api_version).
CUSTOMER_INVOICES_BY_VERSION: Final[Mapping[str, Operation]] = MappingProxyType(
    {"2021-12-28": GET_CUSTOMER_INVOICES_2021_12_28, "v1": GET_CUSTOMER_INVOICES_V1}
)

# Keyed by operationId: both getCustomerInvoices versions share one plan (and one budget).
USAGE_PLANS: Final[Mapping[str, UsagePlan]] = MappingProxyType(
    {operation.name: operation.plan for operation in OPERATIONS}
)
_ROLES: Final[Mapping[str, str | None]] = MappingProxyType(
    {operation.name: operation.role for operation in OPERATIONS}
)
_RESTRICTED_PATHS: Final[Mapping[str, Operation]] = MappingProxyType(
    {operation.path: operation for operation in OPERATIONS if operation.restricted}
)


def customer_invoices(api_version: str) -> Operation:
    """Return getCustomerInvoices of ``api_version`` ("2021-12-28" or "v1").

    Raises:
        ValueError: For another version.

    """
    try:
        return CUSTOMER_INVOICES_BY_VERSION[api_version]
    except KeyError:
        raise ValueError(f"no getCustomerInvoices version {api_version!r}") from None


def role_of(operation: str) -> str | None:
    """Return the role the app needs for the operationId ``operation`` (None: unknown/none)."""
    return _ROLES.get(operation)


def role_for_restricted_path(path: str) -> str | None:
    """Return the role behind the RDT for ``path``, or None if no restricted operation has it."""
    operation = _RESTRICTED_PATHS.get(path)
    return operation.role if operation is not None else None
