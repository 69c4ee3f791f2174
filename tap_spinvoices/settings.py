"""The checked, typed view of the settings that every stream reads.

What each setting is (type, default, range, description) is declared once in
settings_declaration.py; this module checks a raw config against it and builds ``Settings``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from tap_spinvoices import settings_declaration as declared
from tap_spinvoices.account import ACCOUNT_ID_PATTERN
from tap_spinvoices.errors import ConfigError
from tap_spinvoices.settings_declaration import ENDPOINTS, Setting
from tap_spinvoices.spapi.operations import LWA_TOKEN_URL

SANDBOX_ENDPOINTS: Final = {
    region: url.replace("https://", "https://sandbox.") for region, url in ENDPOINTS.items()
}

_LOOPBACK_NAMES: Final = frozenset({"localhost"})


@dataclass(frozen=True)
class Settings:
    """The checked settings every stream reads; built once per run."""

    lwa_client_id: str
    lwa_client_secret: str
    refresh_token: str
    account_id: str
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
    max_retry_after_s: float
    max_record_bytes: int

    def base_url(self, default_region: str) -> str:
        """SP-API base URL for a stream whose marketplace lives in ``default_region``."""
        if self.api_url:
            return self.api_url.rstrip("/")
        hosts = SANDBOX_ENDPOINTS if self.sandbox else ENDPOINTS
        return hosts[self.region or default_region]


def parse_settings(config: dict[str, Any], *, now: datetime | None = None) -> Settings:
    """Check the raw config and build ``Settings``; raise ``ConfigError`` naming the setting.

    The checks run in a fixed order (credentials, dates, choices, lists, URLs, numbers), so a
    config with several mistakes always reports the same one first.
    """
    credentials = _credentials(config)
    start, end = _date_range(config, now or datetime.now(UTC))
    regions, versions = declared.REGION.choices, declared.DF_API_VERSION.choices
    region = _choice(config, declared.REGION, "region", f"use one of {', '.join(regions)}")
    version = _choice(config, declared.DF_API_VERSION, "version", f"use {' or '.join(versions)}")
    parties = _string_list(config, declared.SHIP_FROM_PARTY_IDS, 'e.g. ["WH1", "WH2"]')
    return Settings(
        lwa_client_id=credentials[declared.LWA_CLIENT_ID.name],
        lwa_client_secret=credentials[declared.LWA_CLIENT_SECRET.name],
        refresh_token=credentials[declared.REFRESH_TOKEN.name],
        account_id=_account_id(config),
        start_date=start,
        end_date=end,
        region=region,
        sandbox=_boolean(config, declared.SANDBOX),
        api_url=_checked_url(config, declared.API_URL),
        lwa_token_url=_checked_url(config, declared.LWA_TOKEN_URL_SETTING) or LWA_TOKEN_URL,
        ship_from_party_ids=_distinct(parties),
        marketplace_id=_string(config, declared.MARKETPLACE_ID),
        invoice_filters=_invoice_filters(config),
        create_exports=_boolean(config, declared.CREATE_EXPORTS),
        export_poll_seconds=float(_integer(config, declared.EXPORT_POLL_SECONDS)),
        df_api_version=str(version),
        use_rdt=_boolean(config, declared.USE_RDT),
        window=timedelta(hours=_integer(config, declared.WINDOW_HOURS)),
        max_concurrency=_integer(config, declared.MAX_CONCURRENCY),
        buffer_bytes=_integer(config, declared.BUFFER_MB) * 1024 * 1024,
        lookback=timedelta(minutes=_integer(config, declared.LOOKBACK_MINUTES)),
        rate_budget_share=_integer(config, declared.RATE_BUDGET_PERCENT) / 100,
        request_timeout_s=float(_integer(config, declared.REQUEST_TIMEOUT_SECONDS)),
        max_retries=_integer(config, declared.MAX_RETRIES),
        progress_seconds=float(_integer(config, declared.PROGRESS_SECONDS)),
        max_retry_after_s=float(_integer(config, declared.MAX_RETRY_AFTER_SECONDS)),
        max_record_bytes=_integer(config, declared.MAX_RECORD_MB) * 1024 * 1024,
    )


def _credentials(config: dict[str, Any]) -> dict[str, str]:
    """The three LWA credentials by setting name; each must be a non-empty string."""
    credentials: dict[str, str] = {}
    for setting in (declared.LWA_CLIENT_ID, declared.LWA_CLIENT_SECRET, declared.REFRESH_TOKEN):
        name = setting.name
        value = config.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(name, "missing or empty", f"set {name} to your LWA app credential")
        credentials[name] = value
    return credentials


def _account_id(config: dict[str, Any]) -> str:
    """The account label (account.py); unset or empty is the declared default."""
    setting = declared.ACCOUNT_ID
    value = config.get(setting.name)
    if value is None or value == "":
        return str(setting.default)
    if not isinstance(value, str) or not ACCOUNT_ID_PATTERN.fullmatch(value):
        raise ConfigError(
            setting.name,
            f"{value!r} is not a label of 1-64 letters, digits, '.', '_' or '-'",
            "use the vendor code or another short label, e.g. V1234 or acme-eu",
        )
    return value


def _date_range(config: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """start_date and the effective end: end_date, capped at now minus end_lag_minutes."""
    start = _required_datetime(config, declared.START_DATE)
    latest = _latest_end(config, now)
    end = min(_optional_datetime(config, declared.END_DATE) or latest, latest)
    _check_range(start, end, latest)
    return start, end


def _latest_end(config: dict[str, Any], now: datetime) -> datetime:
    """Now minus end_lag_minutes: getCustomerInvoices answers 400 to a future createdBefore."""
    return now - timedelta(minutes=_integer(config, declared.END_LAG_MINUTES))


def _check_range(start: datetime, end: datetime, latest: datetime) -> None:
    """Refuse a start that is not in the past, or an end not after the start."""
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


def _choice(config: dict[str, Any], setting: Setting, what: str, fix: str) -> str | None:
    """A setting limited to its declared choices; its default (or None) when unset or null."""
    value = config.get(setting.name)
    if value is None:
        value = setting.default
    if value is not None and value not in setting.choices:
        raise ConfigError(setting.name, f"unknown {what} {value!r}", fix)
    return None if value is None else str(value)


def _string_list(config: dict[str, Any], setting: Setting, example: str) -> list[str]:
    """A list of non-empty strings; empty when unset."""
    values = config.get(setting.name) or []
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ConfigError(setting.name, "must be a list of non-empty strings", example)
    return values


def _distinct(values: list[str]) -> tuple[str, ...]:
    """Each value once, in the order first given (a repeated party is one partition)."""
    return tuple(dict.fromkeys(values))


def _boolean(config: dict[str, Any], setting: Setting) -> bool:
    """A flag; its declared default when unset (the JSON schema check rejects non-booleans)."""
    return bool(config.get(setting.name, setting.default))


def _string(config: dict[str, Any], setting: Setting) -> str:
    """A string setting with a declared default, which an empty value also means."""
    return str(config.get(setting.name) or setting.default)


def _invoice_filters(config: dict[str, Any]) -> dict[str, str]:
    """Query filters of getInvoices, from the invoice_* settings."""
    filters: dict[str, str] = {}
    statuses = _string_list(config, declared.INVOICE_STATUSES, 'e.g. ["AUTHORIZED"]')
    if statuses:
        filters["statuses"] = ",".join(statuses)  # collectionFormat: csv
    for setting, parameter in (
        (declared.INVOICE_TYPE, "invoiceType"),
        (declared.INVOICE_TRANSACTION_TYPE, "transactionType"),
    ):
        value = config.get(setting.name)
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


def _required_datetime(config: dict[str, Any], setting: Setting) -> datetime:
    """A date-time setting that must be given."""
    value = _optional_datetime(config, setting)
    if value is None:
        name = setting.name
        raise ConfigError(name, "missing", f"set {name} to an ISO 8601 date-time")
    return value


def _optional_datetime(config: dict[str, Any], setting: Setting) -> datetime | None:
    """A date-time setting, or None when it is unset or empty."""
    name = setting.name
    value = config.get(name)
    if value is None or value == "":
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


def _integer(config: dict[str, Any], setting: Setting) -> int:
    """A whole number within the declared range; the declared default when unset."""
    name = setting.name
    default, low, high = setting.integer_bounds()
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


def _checked_url(config: dict[str, Any], setting: Setting) -> str | None:
    """An http(s) URL; plain http only to a loopback host (credentials travel in it)."""
    name = setting.name
    value = config.get(name)
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
