"""Every setting of the tap, declared once, and the JSON schema derived from the declaration.

Each ``Setting`` says its name, type, default, range or choices, description and whether it is
a secret. From the declaration come: the JSON schema (``json_schema()``: what ``--about`` prints
and the SDK checks), the defaults and ranges ``settings.parse_settings`` enforces, meltano.yml's
extractor settings (scripts/meltano_settings.py), docs/settings.md and README.md's table of
main settings (scripts/generate_docs.py). tests/unit/test_settings.py fails when any of them drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from singer_sdk import typing as th

from tap_spinvoices.account import DEFAULT_ACCOUNT_ID
from tap_spinvoices.spapi.operations import CUSTOMER_INVOICES_BY_VERSION, LWA_TOKEN_URL

# SP-API regional hosts (developer-docs "SP-API endpoints"): India is served by EU, Brazil by NA.
ENDPOINTS: Final = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
DF_API_VERSIONS: Final = tuple(CUSTOMER_INVOICES_BY_VERSION)  # ("2021-12-28", "v1")
BRAZIL_MARKETPLACE_ID: Final = "A2Q3Y263D00KWC"


class Kind(StrEnum):
    """The type of a setting's value, as a user writes it."""

    STRING = "string"
    DATE_TIME = "date-time"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    STRING_LIST = "list of strings"


class Group(StrEnum):
    """Sections of the settings reference, in the order docs/settings.md lists them."""

    CREDENTIALS = "Credentials"
    DATE_RANGE = "Date range"
    CONNECTION = "Where to connect"
    CUSTOMER_INVOICES = "customer_invoices (Direct Fulfillment, India)"
    INVOICES_API = "Invoices API streams (Brazil)"
    TUNING = "Speed, memory and retries"


@dataclass(frozen=True)
class Setting:
    """One setting: everything the schema, the parser, meltano.yml and the docs need."""

    name: str
    kind: Kind
    group: Group
    title: str
    description: str
    example: str | int | bool | list[str]  # a valid value other than the default
    default: str | int | bool | None = None
    unset: str | None = None  # what leaving it out means when that is not a plain default
    required: bool = False
    secret: bool = False
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()

    @property
    def full_description(self) -> str:
        """The description with the range and the meaning of "unset", for --about and Meltano."""
        text = self.description
        if self.low is not None:
            text += f" From {self.low} to {self.high}."
        if self.unset is not None:
            text += f" Default: {self.unset}."
        return text

    def integer_bounds(self) -> tuple[int, int, int]:
        """(default, lowest, highest) of a whole-number setting."""
        if not isinstance(self.default, int) or self.low is None or self.high is None:
            msg = f"{self.name} is not declared as a whole number with a default and a range"
            raise TypeError(msg)
        return self.default, self.low, self.high

    def schema_property(self) -> th.Property[Any]:
        """This setting as a singer-sdk schema property."""
        return th.Property(
            self.name,
            self._schema_type(),
            required=self.required,
            default=self.default,
            description=self.full_description,
            secret=self.secret,
            allowed_values=list(self.choices) or None,
            title=self.title,
        )

    def _schema_type(self) -> th.JSONTypeHelper[Any]:
        nullable = False if self.required else None
        match self.kind:
            case Kind.STRING:
                return th.StringType(nullable=nullable)
            case Kind.DATE_TIME:
                return th.DateTimeType(nullable=nullable)
            case Kind.BOOLEAN:
                return th.BooleanType()
            case Kind.INTEGER:
                return th.IntegerType(minimum=self.low, maximum=self.high)
            case Kind.STRING_LIST:
                return th.ArrayType(th.StringType())


LWA_CLIENT_ID: Final = Setting(
    "lwa_client_id",
    Kind.STRING,
    Group.CREDENTIALS,
    title="LWA client ID",
    description="Login with Amazon client identifier of your SP-API app.",
    example="amzn1.application-oa2-client.0123456789abcdef",
    required=True,
)
LWA_CLIENT_SECRET: Final = Setting(
    "lwa_client_secret",
    Kind.STRING,
    Group.CREDENTIALS,
    title="LWA client secret",
    description="Login with Amazon client secret of your SP-API app.",
    example="amzn1.oa2-cs.v1.0123456789abcdef",
    required=True,
    secret=True,
)
REFRESH_TOKEN: Final = Setting(
    "refresh_token",
    Kind.STRING,
    Group.CREDENTIALS,
    title="Refresh token",
    description="LWA refresh token the vendor/seller granted your app (Atzr|...).",
    example="Atzr|IwEBIA...",
    required=True,
    secret=True,
)
ACCOUNT_ID: Final = Setting(
    "account_id",
    Kind.STRING,
    Group.CREDENTIALS,
    title="Account ID",
    description=(
        "Your label for the selling partner of this refresh_token (e.g. the vendor code; "
        "1-64 letters, digits, '.', '_' or '-'): written into every record and part of every "
        "primary key, so many accounts load into the same tables."
    ),
    example="V1234",
    default=DEFAULT_ACCOUNT_ID,
)
START_DATE: Final = Setting(
    "start_date",
    Kind.DATE_TIME,
    Group.DATE_RANGE,
    title="Start date",
    description="First instant to sync (inclusive), ISO 8601, e.g. 2024-01-01T00:00:00Z.",
    example="2024-01-01T00:00:00Z",
    required=True,
)
END_DATE: Final = Setting(
    "end_date",
    Kind.DATE_TIME,
    Group.DATE_RANGE,
    title="End date",
    description="Instant to stop at (exclusive); never later than now minus end_lag_minutes.",
    example="2024-02-01T00:00:00Z",
    unset="now minus end_lag_minutes",
)
END_LAG_MINUTES: Final = Setting(
    "end_lag_minutes",
    Kind.INTEGER,
    Group.DATE_RANGE,
    title="End lag (minutes)",
    description="end_date defaults to now minus this; Amazon rejects a future createdBefore.",
    example=15,
    default=5,
    low=0,
    high=1440,
)
LOOKBACK_MINUTES: Final = Setting(
    "lookback_minutes",
    Kind.INTEGER,
    Group.DATE_RANGE,
    title="Lookback (minutes)",
    description="Re-read this much before the bookmark to catch late invoices.",
    example=120,
    default=60,
    low=0,
    high=10080,
)
REGION: Final = Setting(
    "region",
    Kind.STRING,
    Group.CONNECTION,
    title="Region",
    description="SP-API region (na, eu, fe).",
    example="fe",
    unset=(
        "each stream's own region (customer invoices: eu for India; Invoices API: na for Brazil)"
    ),
    choices=tuple(ENDPOINTS),
)
SANDBOX: Final = Setting(
    "sandbox",
    Kind.BOOLEAN,
    Group.CONNECTION,
    title="Sandbox",
    description="Call Amazon's sandbox hosts instead of production.",
    example=True,
    default=False,
)
API_URL: Final = Setting(
    "api_url",
    Kind.STRING,
    Group.CONNECTION,
    title="API URL override",
    description=(
        "Base URL for every SP-API call, e.g. http://127.0.0.1:8080 (the emulator); "
        "plain http only to a loopback host."
    ),
    example="http://127.0.0.1:8080",
    unset="the region's SP-API host",
)
LWA_TOKEN_URL_SETTING: Final = Setting(
    "lwa_token_url",
    Kind.STRING,
    Group.CONNECTION,
    title="LWA token URL override",
    description="Where access tokens are requested; plain http only to a loopback host.",
    example="http://127.0.0.1:8080/auth/o2/token",
    unset=LWA_TOKEN_URL,
)
SHIP_FROM_PARTY_IDS: Final = Setting(
    "ship_from_party_ids",
    Kind.STRING_LIST,
    Group.CUSTOMER_INVOICES,
    title="Ship-from party IDs",
    description=(
        "Vendor warehouse IDs; each gets its own bookmark, an ID listed twice is synced once."
    ),
    example=["WH-BLR-1", "WH-DEL-2"],
    unset="all warehouses, under one bookmark",
)
DF_API_VERSION: Final = Setting(
    "df_api_version",
    Kind.STRING,
    Group.CUSTOMER_INVOICES,
    title="Direct Fulfillment API version",
    description="Version of getCustomerInvoices: 2021-12-28 or v1.",
    example="v1",
    default="2021-12-28",
    choices=DF_API_VERSIONS,
)
USE_RDT: Final = Setting(
    "use_rdt",
    Kind.BOOLEAN,
    Group.CUSTOMER_INVOICES,
    title="Use Restricted Data Tokens",
    description="Send an RDT to getCustomerInvoices (Amazon requires it for PII).",
    example=False,
    default=True,
)
MARKETPLACE_ID: Final = Setting(
    "marketplace_id",
    Kind.STRING,
    Group.INVOICES_API,
    title="Marketplace ID",
    description="Invoices API marketplace (Brazil).",
    example="A1ZFFQZ3HTUKT9",
    default=BRAZIL_MARKETPLACE_ID,
)
CREATE_EXPORTS: Final = Setting(
    "create_exports",
    Kind.BOOLEAN,
    Group.INVOICES_API,
    title="Create exports",
    description="Request one Invoices API export per day since the last one and poll it.",
    example=True,
    default=False,
)
EXPORT_POLL_SECONDS: Final = Setting(
    "export_poll_seconds",
    Kind.INTEGER,
    Group.INVOICES_API,
    title="Export poll interval (s)",
    description="First pause between polls of a created export; grows to 10x.",
    example=60,
    default=30,
    low=1,
    high=600,
)
INVOICE_STATUSES: Final = Setting(
    "invoice_statuses",
    Kind.STRING_LIST,
    Group.INVOICES_API,
    title="Invoice statuses",
    description="invoices stream: only these statuses (getInvoicesAttributes lists them).",
    example=["AUTHORIZED"],
    unset="every status",
)
INVOICE_TYPE: Final = Setting(
    "invoice_type",
    Kind.STRING,
    Group.INVOICES_API,
    title="Invoice type",
    description="invoices stream: only this invoiceType.",
    example="SHIPPING",
    unset="every type",
)
INVOICE_TRANSACTION_TYPE: Final = Setting(
    "invoice_transaction_type",
    Kind.STRING,
    Group.INVOICES_API,
    title="Invoice transaction type",
    description="invoices stream: only this transactionType.",
    example="SALE",
    unset="every transaction type",
)
WINDOW_HOURS: Final = Setting(
    "window_hours",
    Kind.INTEGER,
    Group.TUNING,
    title="Window length (hours)",
    description="Longest date window one request chain covers (Amazon's cap is 7 days).",
    example=6,
    default=24,
    low=1,
    high=168,
)
MAX_CONCURRENCY: Final = Setting(
    "max_concurrency",
    Kind.INTEGER,
    Group.TUNING,
    title="Windows in flight",
    description=(
        "How many date windows are fetched at once; a short range is cut into at least this "
        "many windows, none shorter than 15 minutes."
    ),
    example=4,
    default=16,
    low=1,
    high=64,
)
BUFFER_MB: Final = Setting(
    "buffer_mb",
    Kind.INTEGER,
    Group.TUNING,
    title="Read-ahead buffer (MB)",
    description="Memory for windows fetched ahead of their turn.",
    example=64,
    default=32,
    low=4,
    high=1024,
)
RATE_BUDGET_PERCENT: Final = Setting(
    "rate_budget_percent",
    Kind.INTEGER,
    Group.TUNING,
    title="Rate budget (%)",
    description=(
        "Share of each operation's rate limit this tap may use. A quota belongs to one selling "
        "partner and one app: lower this only when several copies of this tap run with the "
        "same app for the same selling partner."
    ),
    example=50,
    default=100,
    low=1,
    high=100,
)
REQUEST_TIMEOUT_SECONDS: Final = Setting(
    "request_timeout_seconds",
    Kind.INTEGER,
    Group.TUNING,
    title="Request timeout (s)",
    description="Total time allowed for one HTTP request.",
    example=120,
    default=60,
    low=5,
    high=600,
)
PROGRESS_SECONDS: Final = Setting(
    "progress_seconds",
    Kind.INTEGER,
    Group.TUNING,
    title="Progress interval (s)",
    description="How often a progress line per stream is logged.",
    example=300,
    default=30,
    low=1,
    high=3600,
)
MAX_RETRIES: Final = Setting(
    "max_retries",
    Kind.INTEGER,
    Group.TUNING,
    title="Retries per request",
    description=(
        "Attempts for a request that keeps failing transiently (429 answers have their own "
        "allowance of 20)."
    ),
    example=3,
    default=8,
    low=1,
    high=50,
)
MAX_RETRY_AFTER_SECONDS: Final = Setting(
    "max_retry_after_seconds",
    Kind.INTEGER,
    Group.TUNING,
    title="Longest Retry-After (s)",
    description=(
        "Longest wait an answer's Retry-After header may ask for; a longer one counts as a "
        "fault and is retried with the usual backoff (max_retries)."
    ),
    example=600,
    default=120,
    low=1,
    high=3600,
)
MAX_RECORD_MB: Final = Setting(
    "max_record_mb",
    Kind.INTEGER,
    Group.TUNING,
    title="Largest record (MB)",
    description=(
        "Largest record, and largest single SP-API answer, the tap reads; a page of "
        "customer invoices larger than a quarter of buffer_mb is asked for again with "
        "fewer invoices a page."
    ),
    example=64,
    default=16,
    low=1,
    high=1024,
)

# The order of --about, meltano.yml and (within each group) docs/settings.md.
DECLARED: Final[tuple[Setting, ...]] = (
    LWA_CLIENT_ID,
    LWA_CLIENT_SECRET,
    REFRESH_TOKEN,
    ACCOUNT_ID,
    START_DATE,
    END_DATE,
    REGION,
    SANDBOX,
    API_URL,
    LWA_TOKEN_URL_SETTING,
    SHIP_FROM_PARTY_IDS,
    MARKETPLACE_ID,
    CREATE_EXPORTS,
    EXPORT_POLL_SECONDS,
    INVOICE_STATUSES,
    INVOICE_TYPE,
    INVOICE_TRANSACTION_TYPE,
    DF_API_VERSION,
    USE_RDT,
    WINDOW_HOURS,
    MAX_CONCURRENCY,
    BUFFER_MB,
    LOOKBACK_MINUTES,
    END_LAG_MINUTES,
    RATE_BUDGET_PERCENT,
    REQUEST_TIMEOUT_SECONDS,
    PROGRESS_SECONDS,
    MAX_RETRIES,
    MAX_RETRY_AFTER_SECONDS,
    MAX_RECORD_MB,
)


def json_schema() -> dict[str, Any]:
    """A new JSON schema of the declared settings.

    New on every call: singer-sdk adds its built-in settings (stream maps, flattening, batch)
    to a tap's ``config_jsonschema`` in place, and that must not leak into other users.
    """
    return th.PropertiesList(*(setting.schema_property() for setting in DECLARED)).to_dict()
