"""Amazon over HTTP: the operations table, LWA and RDT, rate budgets, retries, the JSON client.

Nothing of Singer, of the settings or of the layers above is imported here
(tests/unit/test_spapi_layer.py). The names below are the layer's front door: open a connection
with the options and the tokens-and-budgets store, then call the operations of the table
through its client. Each module lists its own public names in its ``__all__``;
tests/unit/test_spapi_surface.py checks that code outside a module uses only those.
"""

from tap_spinvoices.spapi.client import JsonAnswer, SpApiCalls, SpApiClient, request_id_of
from tap_spinvoices.spapi.operations import (
    LWA_TOKEN_URL,
    OPERATIONS,
    Operation,
    UsagePlan,
)
from tap_spinvoices.spapi.session import (
    ApiConnection,
    ConnectionOptions,
    TokensAndBudgets,
    open_connection,
)

__all__ = [
    "LWA_TOKEN_URL",
    "OPERATIONS",
    "ApiConnection",
    "ConnectionOptions",
    "JsonAnswer",
    "Operation",
    "SpApiCalls",
    "SpApiClient",
    "TokensAndBudgets",
    "UsagePlan",
    "open_connection",
    "request_id_of",
]
