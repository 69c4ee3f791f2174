"""The tap's settings: the JSON schema users see, and a checked, typed view of it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_spinvoices.errors import ConfigError
from tap_spinvoices.spapi.operations import CUSTOMER_INVOICES_BY_VERSION, LWA_TOKEN_URL

# SP-API regional hosts (developer-docs "SP-API endpoints"): India is served by EU, Brazil by NA.
ENDPOINTS: Final = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
SANDBOX_ENDPOINTS: Final = {
    region: url.replace("https://", "https://sandbox.") for region, url in ENDPOINTS.items()
}
DF_API_VERSIONS: Final = tuple(CUSTOMER_INVOICES_BY_VERSION)  # ("2021-12-28", "v1")
BRAZIL_MARKETPLACE_ID: Final = "A2Q3Y263D00KWC"

config_jsonschema: Final[dict[str, Any]] = th.PropertiesList(
    th.Property(
        "lwa_client_id",
        th.StringType(nullable=False),
        required=True,
        title="LWA client ID",
        description="Login with Amazon client identifier of your SP-API app.",
    ),
    th.Property(
        "lwa_client_secret",
        th.StringType(nullable=False),
        required=True,
        secret=True,
        title="LWA client secret",
        description="Login with Amazon client secret of your SP-API app.",
    ),
    th.Property(
        "refresh_token",
        th.StringType(nullable=False),
        required=True,
        secret=True,
        title="Refresh token",
        description="LWA refresh token the vendor/seller granted your app (Atzr|...).",
    ),
    th.Property(
        "start_date",
        th.DateTimeType(nullable=False),
        required=True,
        title="Start date",
        description="First instant to sync (inclusive), ISO 8601, e.g. 2024-01-01T00:00:00Z.",
    ),
    th.Property(
        "end_date",
        th.DateTimeType(),
        title="End date",
        description="Instant to stop at (exclusive). Default: now minus end_lag_minutes.",
    ),
    th.Property(
        "region",
        th.StringType(),
        allowed_values=list(ENDPOINTS),
        title="Region",
        description=(
            "SP-API region (na, eu, fe). Default: each stream's own region "
            "(customer invoices: eu for India; Invoices API: na for Brazil)."
        ),
    ),
    th.Property(
        "sandbox",
        th.BooleanType(),
        default=False,
        title="Sandbox",
        description="Call Amazon's sandbox hosts instead of production.",
    ),
    th.Property(
        "api_url",
        th.StringType(),
        title="API URL override",
        description="Base URL for every SP-API call, e.g. http://127.0.0.1:8080 (the emulator).",
    ),
    th.Property(
        "lwa_token_url",
        th.StringType(),
        title="LWA token URL override",
        description=f"Default: {LWA_TOKEN_URL}.",
    ),
    th.Property(
        "ship_from_party_ids",
        th.ArrayType(th.StringType()),
        title="Ship-from party IDs",
        description="Vendor warehouse IDs; each gets its own bookmark. Empty: all warehouses.",
    ),
    th.Property(
        "marketplace_id",
        th.StringType(),
        default=BRAZIL_MARKETPLACE_ID,
        title="Marketplace ID",
        description="Invoices API marketplace (Brazil).",
    ),
    th.Property(
        "create_exports",
        th.BooleanType(),
        default=False,
        title="Create exports",
        description="Request one Invoices API export per day since the last one and poll it.",
    ),
    th.Property(
        "export_poll_seconds",
        th.IntegerType(),
        default=30,
        title="Export poll interval (s)",
        description="First pause between polls of a created export; grows to 10x (1-600).",
    ),
    th.Property(
        "invoice_statuses",
        th.ArrayType(th.StringType()),
        title="Invoice statuses",
        description="invoices stream: only these statuses (getInvoicesAttributes lists them).",
    ),
    th.Property(
        "invoice_type",
        th.StringType(),
        title="Invoice type",
        description="invoices stream: only this invoiceType.",
    ),
    th.Property(
        "invoice_transaction_type",
        th.StringType(),
        title="Invoice transaction type",
        description="invoices stream: only this transactionType.",
    ),
    th.Property(
        "df_api_version",
        th.StringType(),
        default="2021-12-28",
        allowed_values=list(DF_API_VERSIONS),
        title="Direct Fulfillment API version",
        description="Version of getCustomerInvoices: 2021-12-28 or v1.",
    ),
    th.Property(
        "use_rdt",
        th.BooleanType(),
        default=True,
        title="Use Restricted Data Tokens",
        description="Send an RDT to getCustomerInvoices (Amazon requires it for PII).",
    ),
    th.Property(
        "window_hours",
        th.IntegerType(),
        default=24,
        title="Window length (hours)",
        description="Longest date window one request chain covers (1-168; Amazon's cap is 7 days).",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType(),
        default=16,
        title="Windows in flight",
        description="How many date windows are fetched at once (1-64).",
    ),
    th.Property(
        "buffer_mb",
        th.IntegerType(),
        default=32,
        title="Read-ahead buffer (MB)",
        description="Memory for windows fetched ahead of their turn (4-1024).",
    ),
    th.Property(
        "lookback_minutes",
        th.IntegerType(),
        default=60,
        title="Lookback (minutes)",
        description="Re-read this much before the bookmark to catch late invoices (0-10080).",
    ),
    th.Property(
        "end_lag_minutes",
        th.IntegerType(),
        default=5,
        title="End lag (minutes)",
        description="end_date defaults to now minus this; Amazon rejects a future createdBefore.",
    ),
    th.Property(
        "rate_budget_percent",
        th.IntegerType(),
        default=100,
        title="Rate budget (%)",
        description="Share of each operation's rate limit to use (1-100); quotas are per seller.",
    ),
    th.Property(
        "request_timeout_seconds",
        th.IntegerType(),
        default=60,
        title="Request timeout (s)",
        description="Total time allowed for one HTTP request (5-600).",
    ),
    th.Property(
        "progress_seconds",
        th.IntegerType(),
        default=30,
        title="Progress interval (s)",
        description="How often a progress line per stream is logged (1-3600).",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(),
        default=8,
        title="Retries per request",
        description="Attempts for a request that keeps failing transiently (1-50).",
    ),
).to_dict()

_LOOPBACK_NAMES: Final = frozenset({"localhost"})


@dataclass(frozen=True)
class Settings:
    """The checked settings every stream reads; built once per run."""

    lwa_client_id: str
    lwa_client_secret: str
    refresh_token: str
    start_date: datetime
    end_date: datetime
    region: str | None
    sandbox: bool
    api_url: str | None
    lwa_token_url: str
    ship_from_party_ids: tuple[str, ...]
    marketplace_id: str
    invoice_filters: dict[str, str]
    create_exports: bool
    export_poll_seconds: float
    df_api_version: str
    use_rdt: bool
    window: timedelta
    max_concurrency: int
    buffer_bytes: int
    lookback: timedelta
    rate_budget_share: float
    request_timeout_s: float
    max_retries: int
    progress_seconds: float

    def base_url(self, default_region: str) -> str:
        """SP-API base URL for a stream whose marketplace lives in ``default_region``."""
        if self.api_url:
            return self.api_url.rstrip("/")
        hosts = SANDBOX_ENDPOINTS if self.sandbox else ENDPOINTS
        return hosts[self.region or default_region]


def parse_settings(config: dict[str, Any], *, now: datetime | None = None) -> Settings:
    """Check the raw config and build ``Settings``; raise ``ConfigError`` naming the setting."""
    now = now or datetime.now(UTC)
    for name in ("lwa_client_id", "lwa_client_secret", "refresh_token"):
        value = config.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(name, "missing or empty", f"set {name} to your LWA app credential")
    start = _parse_datetime(config.get("start_date"), "start_date", required=True)
    assert start is not None  # noqa: S101 - required=True never returns None
    lag = timedelta(minutes=_integer(config, "end_lag_minutes", 5, 0, 1440))
    latest = now - lag  # getCustomerInvoices answers 400 to a createdBefore in the future
    end = min(_parse_datetime(config.get("end_date"), "end_date", required=False) or latest, latest)
    if start >= latest:
        raise ConfigError(
            "start_date",
            f"{_iso(start)} is not in the past (now minus end_lag_minutes is {_iso(latest)})",
            "set start_date to an earlier instant",
        )
    if end <= start:
        raise ConfigError(
            "end_date",
            f"{_iso(end)} is not after start_date {_iso(start)}",
            "set end_date later than start_date, or leave it unset (now minus end_lag_minutes)",
        )
    region = config.get("region")
    if region is not None and region not in ENDPOINTS:
        raise ConfigError("region", f"unknown region {region!r}", "use one of na, eu, fe")
    version = config.get("df_api_version", "2021-12-28")
    if version not in DF_API_VERSIONS:
        raise ConfigError("df_api_version", f"unknown version {version!r}", "use 2021-12-28 or v1")
    parties = config.get("ship_from_party_ids") or []
    if not isinstance(parties, list) or not all(isinstance(p, str) and p for p in parties):
        raise ConfigError(
            "ship_from_party_ids", "must be a list of non-empty strings", 'e.g. ["WH1", "WH2"]'
        )
    return Settings(
        lwa_client_id=config["lwa_client_id"],
        lwa_client_secret=config["lwa_client_secret"],
        refresh_token=config["refresh_token"],
        start_date=start,
        end_date=end,
        region=region,
        sandbox=bool(config.get("sandbox", False)),
        api_url=_checked_url(config.get("api_url"), "api_url"),
        lwa_token_url=_checked_url(config.get("lwa_token_url"), "lwa_token_url") or LWA_TOKEN_URL,
        ship_from_party_ids=tuple(dict.fromkeys(parties)),
        marketplace_id=str(config.get("marketplace_id") or BRAZIL_MARKETPLACE_ID),
        invoice_filters=_invoice_filters(config),
        create_exports=bool(config.get("create_exports", False)),
        export_poll_seconds=float(_integer(config, "export_poll_seconds", 30, 1, 600)),
        df_api_version=version,
        use_rdt=bool(config.get("use_rdt", True)),
        window=timedelta(hours=_integer(config, "window_hours", 24, 1, 168)),
        max_concurrency=_integer(config, "max_concurrency", 16, 1, 64),
        buffer_bytes=_integer(config, "buffer_mb", 32, 4, 1024) * 1024 * 1024,
        lookback=timedelta(minutes=_integer(config, "lookback_minutes", 60, 0, 10080)),
        rate_budget_share=_integer(config, "rate_budget_percent", 100, 1, 100) / 100,
        request_timeout_s=float(_integer(config, "request_timeout_seconds", 60, 5, 600)),
        max_retries=_integer(config, "max_retries", 8, 1, 50),
        progress_seconds=float(_integer(config, "progress_seconds", 30, 1, 3600)),
    )


def _invoice_filters(config: dict[str, Any]) -> dict[str, str]:
    """Query filters of getInvoices, from the invoice_* settings."""
    filters: dict[str, str] = {}
    statuses = config.get("invoice_statuses") or []
    if not isinstance(statuses, list) or not all(isinstance(s, str) and s for s in statuses):
        raise ConfigError(
            "invoice_statuses", "must be a list of non-empty strings", 'e.g. ["AUTHORIZED"]'
        )
    if statuses:
        filters["statuses"] = ",".join(statuses)  # collectionFormat: csv
    for setting, parameter in (
        ("invoice_type", "invoiceType"),
        ("invoice_transaction_type", "transactionType"),
    ):
        value = config.get(setting)
        if value:
            filters[parameter] = str(value)
    return filters


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 date-time; naive values are taken as UTC. Raises ``ValueError``."""
    parsed = datetime.fromisoformat(value)
    if "T" not in value.upper() and " " not in value:
        msg = "a date-time needs a time part"
        raise ValueError(msg)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_datetime(value: object, name: str, *, required: bool) -> datetime | None:
    if value is None or value == "":
        if required:
            raise ConfigError(name, "missing", f"set {name} to an ISO 8601 date-time")
        return None
    if not isinstance(value, str):
        raise _not_a_datetime(name, value)
    try:
        return parse_datetime(value)
    except ValueError:
        raise _not_a_datetime(name, value) from None


def _not_a_datetime(name: str, value: object) -> ConfigError:
    return ConfigError(
        name,
        f"{value!r} is not an ISO 8601 date-time",
        f"write it like 2024-01-01T00:00:00Z (setting {name})",
    )


def _integer(config: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = config.get(name, default)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)  # Meltano passes env values as strings
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            name,
            f"{value!r} is not a whole number from {low} to {high}",
            (f"set {name} between {low} and {high} or remove it (default {default})"),
        )
    return value


def _checked_url(value: object, name: str) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(str(value))
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            name,
            f"{value!r} is not an http(s) URL",
            "write it like https://host or http://127.0.0.1:8080",
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            name,
            f"plain http is only allowed to a loopback host, not {parts.hostname!r}",
            "use https, or http://127.0.0.1 for the local emulator",
        )
    return str(value)


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _iso(value: datetime) -> str:
    return value.isoformat()
