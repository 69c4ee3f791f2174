"""Every setting of the tap, declared once: the fields of ``Settings``.

A setting is one field of ``Settings`` below. Its type is the value the code reads; its
``declare(...)`` says the rest: the name a user writes (the field's own name unless the
value changes unit on the way, ``buffer_mb`` into ``buffer_bytes``), type, default, range
or choices, description, whether it is a secret, how the raw value is checked
(settings_readers.py: one reader per kind of value, chosen from the kind unless given) and
the unit conversion. From the declaration come: the JSON schema (``json_schema()``: what
``--about`` prints and the SDK checks), the checks and the typed ``Settings`` that
``settings.parse_settings`` builds, meltano.yml's extractor settings
(scripts/meltano_settings.py), docs/settings.md and README.md's table of main settings
(scripts/generate_docs.py). tests/unit/test_settings.py fails when any of them drifts.

Adding a setting is one ``declare`` field here, then its use; regenerate the docs and
meltano.yml (the tests say how).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping  # noqa: TC003 - a Settings field type, read at run time
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta  # noqa: TC003 - Settings' field types, read at run time
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from singer_sdk import typing as th

from tap_spinvoices import settings_readers as readers
from tap_spinvoices.account import DEFAULT_ACCOUNT_ID
from tap_spinvoices.archive.config import S3_ENCRYPTION, ArchiveConfig, ArchiveLocation
from tap_spinvoices.errors import ConfigError
from tap_spinvoices.spapi.operations import CUSTOMER_INVOICES_BY_VERSION, LWA_TOKEN_URL

if TYPE_CHECKING:
    from collections.abc import Callable

    from tap_spinvoices.settings_readers import Reader

# SP-API regional hosts (developer-docs "SP-API endpoints"): India is served by EU, Brazil by NA.
ENDPOINTS: Final = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
DF_API_VERSIONS: Final = tuple(CUSTOMER_INVOICES_BY_VERSION)  # ("2021-12-28", "v1")
BRAZIL_MARKETPLACE_ID: Final = "A2Q3Y263D00KWC"
SANDBOX_ENDPOINTS: Final = {
    region: url.replace("https://", "https://sandbox.") for region, url in ENDPOINTS.items()
}


class Kind(StrEnum):
    """The type of a setting's value, as a user writes it."""

    STRING = "string"
    DATE_TIME = "date-time"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    STRING_LIST = "list of strings"
    OBJECT = "object"


class Group(StrEnum):
    """Sections of the settings reference, in the order docs/settings.md lists them."""

    CREDENTIALS = "Credentials"
    DATE_RANGE = "Date range"
    CONNECTION = "Where to connect"
    CUSTOMER_INVOICES = "customer_invoices (Direct Fulfillment, India)"
    INVOICES_API = "Invoices API streams (Brazil)"
    ARCHIVE = "Archiving the documents"
    TUNING = "Speed, memory and retries"


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting: everything the schema, the checks, meltano.yml and the docs need."""

    name: str  #: as the user writes it in the config
    attribute: str  #: the ``Settings`` field it fills
    kind: Kind
    group: Group
    title: str
    description: str
    example: str | int | bool | list[str] | dict[str, str]  # valid, not the default
    default: str | int | bool | None = None
    unset: str | None = None  # what leaving it out means when that is not a plain default
    required: bool = False
    secret: bool = False
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    # Settings this one needs to mean anything (and that its example is given with).
    needs: tuple[tuple[str, str], ...] = ()
    read: Reader  #: the raw config to the checked value, or ``ConfigError``
    convert: Callable[[Any], Any] = readers.unchanged  #: the checked value to the field's unit

    def value_in(self, config: Mapping[str, Any]) -> Any:  # noqa: ANN401 - the field's type
        """This setting's checked value in ``config``, in the unit ``Settings`` holds."""
        return self.convert(self.read(self, config))

    @property
    def full_description(self) -> str:
        """The description with the range and the meaning of "unset", for --about and Meltano."""
        text = self.description
        if self.low is not None:
            text += f" From {self.low} to {self.high}."
        if self.unset is not None:
            text += f" Default: {self.unset}."
        if self.needs:
            text += f" Needs {' and '.join(name for name, _ in self.needs)}."
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
            case Kind.OBJECT:
                return th.ObjectType(additional_properties=True)


def declare(  # noqa: PLR0913 - the declaration of a setting has this many parts
    kind: Kind,
    group: Group,
    *,
    title: str,
    description: str,
    example: str | int | bool | list[str] | dict[str, str],
    name: str | None = None,
    default: str | int | bool | None = None,
    unset: str | None = None,
    required: bool = False,
    secret: bool = False,
    low: int | None = None,
    high: int | None = None,
    choices: tuple[str, ...] = (),
    needs: tuple[tuple[str, str], ...] = (),
    read: Reader | None = None,
    convert: Callable[[Any], Any] = readers.unchanged,
) -> Any:  # noqa: ANN401 - typed by the field it declares, as dataclasses.field
    """A field of ``Settings`` declaring the setting that fills it.

    ``name`` is the field's name unless given. ``read`` is the kind's reader unless given
    (settings_readers.py); ``convert`` turns its value into the field's unit. A secret is
    left out of the field's repr.
    """

    def setting(attribute: str) -> Setting:
        return Setting(
            name=name or attribute,
            attribute=attribute,
            kind=kind,
            group=group,
            title=title,
            description=description,
            example=example,
            default=default,
            unset=unset,
            required=required,
            secret=secret,
            low=low,
            high=high,
            choices=choices,
            needs=needs,
            read=read or _reader_of(kind, choices=choices),
            convert=convert,
        )

    return field(repr=not secret, metadata={_DECLARATION: setting})


_DECLARATION: Final = "tap_spinvoices.setting"


def _reader_of(kind: Kind, *, choices: tuple[str, ...]) -> Reader:
    """The reader of a kind of value: what a setting is checked with unless it says."""
    match kind:
        case Kind.STRING:
            return readers.choice() if choices else readers.text
        case Kind.DATE_TIME:
            return readers.date_time
        case Kind.BOOLEAN:
            return readers.flag
        case Kind.INTEGER:
            return readers.whole_number
        case Kind.STRING_LIST:
            return readers.string_list()
        case Kind.OBJECT:
            return readers.flat_object


@dataclass(frozen=True)
class Settings:
    """The checked settings every stream reads; built once per run by ``parse_settings``.

    The fields are in the order of --about, meltano.yml and (within each group)
    docs/settings.md. ``end_date`` is the effective end: end_date, capped at now minus
    end_lag_minutes (settings.parse_settings).

    A new setting is one field here, typed as the code reads it and declared with
    ``declare(...)``; then run scripts/generate_docs.py, scripts/meltano_settings.py and
    scripts/meltano_plugin_ref.py (tests/unit/test_settings.py and test_plugin_ref.py fail
    until they ran).
    """

    lwa_client_id: str = declare(
        Kind.STRING,
        Group.CREDENTIALS,
        title="LWA client ID",
        description="Login with Amazon client identifier of your SP-API app.",
        example="amzn1.application-oa2-client.0123456789abcdef",
        required=True,
        read=readers.credential,
    )
    lwa_client_secret: str = declare(
        Kind.STRING,
        Group.CREDENTIALS,
        title="LWA client secret",
        description="Login with Amazon client secret of your SP-API app.",
        example="amzn1.oa2-cs.v1.0123456789abcdef",
        required=True,
        secret=True,
        read=readers.credential,
    )
    refresh_token: str = declare(
        Kind.STRING,
        Group.CREDENTIALS,
        title="Refresh token",
        description="LWA refresh token the vendor/seller granted your app (Atzr|...).",
        example="Atzr|IwEBIA...",
        required=True,
        secret=True,
        read=readers.credential,
    )
    account_id: str = declare(
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
        read=readers.account_label,
    )
    start_date: datetime = declare(
        Kind.DATE_TIME,
        Group.DATE_RANGE,
        title="Start date",
        description="First instant to sync (inclusive), ISO 8601, e.g. 2024-01-01T00:00:00Z.",
        example="2024-01-01T00:00:00Z",
        required=True,
    )
    end_date: datetime = declare(
        Kind.DATE_TIME,
        Group.DATE_RANGE,
        title="End date",
        description="Instant to stop at (exclusive); never later than now minus end_lag_minutes.",
        example="2024-02-01T00:00:00Z",
        unset="now minus end_lag_minutes",
    )
    region: str | None = declare(
        Kind.STRING,
        Group.CONNECTION,
        title="Region",
        description="SP-API region (na, eu, fe).",
        example="fe",
        unset=(
            "each stream's own region "
            "(customer invoices: eu for India; Invoices API: na for Brazil)"
        ),
        choices=tuple(ENDPOINTS),
    )
    sandbox: bool = declare(
        Kind.BOOLEAN,
        Group.CONNECTION,
        title="Sandbox",
        description="Call Amazon's sandbox hosts instead of production.",
        example=True,
        default=False,
    )
    api_url: str | None = declare(
        Kind.STRING,
        Group.CONNECTION,
        title="API URL override",
        description=(
            "Base URL for every SP-API call, e.g. http://127.0.0.1:8080 (the emulator); "
            "plain http only to a loopback host."
        ),
        example="http://127.0.0.1:8080",
        unset="the region's SP-API host",
        read=readers.url,
    )
    lwa_token_url: str = declare(
        Kind.STRING,
        Group.CONNECTION,
        title="LWA token URL override",
        description="Where access tokens are requested; plain http only to a loopback host.",
        example="http://127.0.0.1:8080/auth/o2/token",
        unset=LWA_TOKEN_URL,
        read=readers.url,
        convert=readers.otherwise(LWA_TOKEN_URL),
    )
    ship_from_party_ids: tuple[str, ...] = declare(
        Kind.STRING_LIST,
        Group.CUSTOMER_INVOICES,
        title="Ship-from party IDs",
        description=(
            "Vendor warehouse IDs; each gets its own bookmark, an ID listed twice is synced once."
        ),
        example=["WH-BLR-1", "WH-DEL-2"],
        unset="all warehouses, under one bookmark",
        read=readers.string_list('e.g. ["WH1", "WH2"]'),
        convert=readers.distinct,
    )
    marketplace_id: str = declare(
        Kind.STRING,
        Group.INVOICES_API,
        title="Marketplace ID",
        description="Invoices API marketplace (Brazil).",
        example="A1ZFFQZ3HTUKT9",
        default=BRAZIL_MARKETPLACE_ID,
    )
    create_exports: bool = declare(
        Kind.BOOLEAN,
        Group.INVOICES_API,
        title="Create exports",
        description="Request one Invoices API export per day since the last one and poll it.",
        example=True,
        default=False,
    )
    export_poll_seconds: float = declare(
        Kind.INTEGER,
        Group.INVOICES_API,
        title="Export poll interval (s)",
        description="First pause between polls of a created export; grows to 10x.",
        example=60,
        default=30,
        low=1,
        high=600,
        convert=readers.seconds,
    )
    invoice_statuses: tuple[str, ...] = declare(
        Kind.STRING_LIST,
        Group.INVOICES_API,
        title="Invoice statuses",
        description="invoices stream: only these statuses (getInvoicesAttributes lists them).",
        example=["AUTHORIZED"],
        unset="every status",
    )
    invoice_type: str | None = declare(
        Kind.STRING,
        Group.INVOICES_API,
        title="Invoice type",
        description="invoices stream: only this invoiceType.",
        example="SHIPPING",
        unset="every type",
    )
    invoice_transaction_type: str | None = declare(
        Kind.STRING,
        Group.INVOICES_API,
        title="Invoice transaction type",
        description="invoices stream: only this transactionType.",
        example="SALE",
        unset="every transaction type",
    )
    df_api_version: str = declare(
        Kind.STRING,
        Group.CUSTOMER_INVOICES,
        title="Direct Fulfillment API version",
        description="Version of getCustomerInvoices: 2021-12-28 or v1.",
        example="v1",
        default="2021-12-28",
        choices=DF_API_VERSIONS,
        read=readers.choice("version"),
    )
    use_rdt: bool = declare(
        Kind.BOOLEAN,
        Group.CUSTOMER_INVOICES,
        title="Use Restricted Data Tokens",
        description="Send an RDT to getCustomerInvoices (Amazon requires it for PII).",
        example=False,
        default=True,
    )
    archive_url: ArchiveLocation | None = declare(
        Kind.STRING,
        Group.ARCHIVE,
        title="Archive URL",
        description=(
            "Where every customer invoice PDF and NF-e XML file is stored, exactly once, before "
            "its record is written: a local folder (/srv/invoices or file:///srv/invoices, which "
            "must exist), s3://bucket/prefix (AWS or S3-compatible), gs://bucket/prefix, "
            "az://container/prefix or abfss://container@account.dfs.core.windows.net/prefix. "
            "Credentials and endpoint come from the cloud's standard environment variables or "
            "archive_options (docs/archive.md)."
        ),
        example="s3://acme-invoices/spapi",
        unset="no archive",
        read=readers.archive_location,
    )
    archive_options: Mapping[str, str | bool] = declare(
        Kind.OBJECT,
        Group.ARCHIVE,
        title="Archive store options",
        description=(
            "Options of the store, as obstore names them (S3Config, GCSConfig, AzureConfig), "
            'e.g. {"region": "eu-west-1", "endpoint": "https://s3.example.com", '
            '"access_key_id": "...", "secret_access_key": "..."}; plain http endpoints only to '
            "a loopback host. Secret: never logged."
        ),
        example={"region": "eu-west-1"},
        unset="the cloud's standard environment variables (AWS_*, GOOGLE_*, AZURE_STORAGE_*)",
        secret=True,
        needs=(("archive_url", "s3://acme-invoices/spapi"),),
    )
    archive_server_side_encryption: str | None = declare(
        Kind.STRING,
        Group.ARCHIVE,
        title="Archive server-side encryption (S3)",
        description=(
            "S3 server-side encryption of every archived object: AES256 (SSE-S3), aws:kms "
            "(SSE-KMS) or aws:kms:dsse. The invoices carry customers' names and addresses."
        ),
        example="aws:kms",
        unset="the bucket's default encryption",
        choices=S3_ENCRYPTION,
        needs=(("archive_url", "s3://acme-invoices/spapi"),),
        read=readers.choice("encryption"),
    )
    archive_kms_key_id: str | None = declare(
        Kind.STRING,
        Group.ARCHIVE,
        title="Archive KMS key (S3)",
        description="The KMS key (id or ARN) of SSE-KMS for archived objects.",
        example="arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        unset="the account's AWS managed key for S3",
        needs=(
            ("archive_url", "s3://acme-invoices/spapi"),
            ("archive_server_side_encryption", "aws:kms"),
        ),
    )
    archive_uploads_in_flight: int = declare(
        Kind.INTEGER,
        Group.ARCHIVE,
        title="Archive uploads in flight",
        description="How many documents are uploaded at once.",
        example=128,
        default=64,
        low=1,
        high=256,
        needs=(("archive_url", "s3://acme-invoices/spapi"),),
    )
    archive_bytes_in_flight: int = declare(
        Kind.INTEGER,
        Group.ARCHIVE,
        name="archive_mb_in_flight",
        title="Archive memory in flight (MB)",
        description=(
            "Memory for documents being uploaded (a larger document goes alone), taken from "
            "buffer_mb."
        ),
        example=64,
        default=16,
        low=1,
        high=1024,
        needs=(("archive_url", "s3://acme-invoices/spapi"),),
        convert=readers.mebibytes,
    )
    window: timedelta = declare(
        Kind.INTEGER,
        Group.TUNING,
        name="window_hours",
        title="Window length (hours)",
        description="Longest date window one request chain covers (Amazon's cap is 7 days).",
        example=6,
        default=24,
        low=1,
        high=168,
        convert=readers.hours,
    )
    max_concurrency: int = declare(
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
    buffer_bytes: int = declare(
        Kind.INTEGER,
        Group.TUNING,
        name="buffer_mb",
        title="Read-ahead buffer (MB)",
        description=(
            "Memory for windows fetched ahead of their turn; with archive_url, the uploads' "
            "archive_mb_in_flight is taken from it (a quarter always stays for reading ahead)."
        ),
        example=64,
        default=32,
        low=4,
        high=1024,
        convert=readers.mebibytes,
    )
    lookback: timedelta = declare(
        Kind.INTEGER,
        Group.DATE_RANGE,
        name="lookback_minutes",
        title="Lookback (minutes)",
        description="Re-read this much before the bookmark to catch late invoices.",
        example=120,
        default=60,
        low=0,
        high=10080,
        convert=readers.minutes,
    )
    end_lag: timedelta = declare(
        Kind.INTEGER,
        Group.DATE_RANGE,
        name="end_lag_minutes",
        title="End lag (minutes)",
        description="end_date defaults to now minus this; Amazon rejects a future createdBefore.",
        example=15,
        default=5,
        low=0,
        high=1440,
        convert=readers.minutes,
    )
    rate_budget_share: float = declare(
        Kind.INTEGER,
        Group.TUNING,
        name="rate_budget_percent",
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
        convert=readers.share_of_percent,
    )
    request_timeout_s: float = declare(
        Kind.INTEGER,
        Group.TUNING,
        name="request_timeout_seconds",
        title="Request timeout (s)",
        description="Total time allowed for one HTTP request.",
        example=120,
        default=60,
        low=5,
        high=600,
        convert=readers.seconds,
    )
    progress_seconds: float = declare(
        Kind.INTEGER,
        Group.TUNING,
        title="Progress interval (s)",
        description="How often a progress line per stream is logged.",
        example=300,
        default=30,
        low=1,
        high=3600,
        convert=readers.seconds,
    )
    max_retries: int = declare(
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
    max_retry_after_s: float = declare(
        Kind.INTEGER,
        Group.TUNING,
        name="max_retry_after_seconds",
        title="Longest Retry-After (s)",
        description=(
            "Longest wait an answer's Retry-After header may ask for; a longer one counts as a "
            "fault and is retried with the usual backoff (max_retries)."
        ),
        example=600,
        default=120,
        low=1,
        high=3600,
        convert=readers.seconds,
    )
    max_record_bytes: int = declare(
        Kind.INTEGER,
        Group.TUNING,
        name="max_record_mb",
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
        convert=readers.mebibytes,
    )
    max_document_bytes: int = declare(
        Kind.INTEGER,
        Group.TUNING,
        name="max_document_mb",
        title="Largest export document (MB)",
        description=(
            "Largest Invoices API export document (ZIP) the tap downloads, to a temporary file: "
            "a download is stopped past it. Its files together may unzip to 20 times as much; "
            "one file is at most max_record_mb."
        ),
        example=4096,
        default=1024,
        low=1,
        high=65536,
        convert=readers.mebibytes,
    )
    max_document_files: int = declare(
        Kind.INTEGER,
        Group.TUNING,
        title="Most files in an export document",
        description=(
            "Most files one Invoices API export document (ZIP) may hold, ZIPs inside it "
            "included; the tap holds each name (about 0.5 KB) while it reads the ZIP."
        ),
        example=500000,
        default=100000,
        low=1,
        high=5000000,
    )
    metrics_log_level: str = declare(
        Kind.STRING,
        Group.TUNING,
        title="METRIC log level",
        description=(
            "Level of singer-sdk's METRIC lines (record counts, request and sync timers): INFO "
            "shows them, WARNING hides them."
        ),
        example="WARNING",
        default="INFO",
        choices=("INFO", "WARNING"),
        read=readers.choice("level"),
    )

    def base_url(self, default_region: str) -> str:
        """SP-API base URL for a stream whose marketplace lives in ``default_region``."""
        if self.api_url:
            return self.api_url.rstrip("/")
        hosts = SANDBOX_ENDPOINTS if self.sandbox else ENDPOINTS
        return hosts[self.region or default_region]

    @functools.cached_property
    def archive(self) -> ArchiveConfig | None:
        """The archive_* settings as one checked value; None when archive_url is unset.

        parse_settings reads it once, so its cross-setting checks run with the others.
        """
        return archive_config({spec.name: getattr(self, spec.name) for spec in fields(self)})

    @property
    def invoice_filters(self) -> dict[str, str]:
        """Query filters of getInvoices, from the invoice_* settings."""
        filters: dict[str, str] = {}
        if self.invoice_statuses:
            filters["statuses"] = ",".join(self.invoice_statuses)  # collectionFormat: csv
        if self.invoice_type:
            filters["invoiceType"] = self.invoice_type
        if self.invoice_transaction_type:
            filters["transactionType"] = self.invoice_transaction_type
        return filters


# What the archive needs besides the ARCHIVE group (its retries and timeout are the tap's).
ARCHIVE_ATTRIBUTES: Final = (
    "archive_url",
    "archive_options",
    "archive_server_side_encryption",
    "archive_kms_key_id",
    "archive_uploads_in_flight",
    "archive_bytes_in_flight",
    "max_retries",
    "request_timeout_s",
)
_ARCHIVE_COMPANIONS: Final = {
    "archive_options": "archive_options",
    "archive_server_side_encryption": "archive_server_side_encryption",
    "archive_kms_key_id": "archive_kms_key_id",
}


def archive_config(values: Mapping[str, Any]) -> ArchiveConfig | None:
    """The archive's settings from checked values (ARCHIVE_ATTRIBUTES), or None.

    ``ConfigError`` when they do not go together: an option without archive_url, SSE on a
    store without it, a KMS key without SSE-KMS.
    """
    location = values["archive_url"]
    if location is None:
        for attribute, name in _ARCHIVE_COMPANIONS.items():
            if values[attribute]:
                raise ConfigError(
                    name,
                    "is set but archive_url is not",
                    "set archive_url to where the documents go, or remove it",
                )
        return None
    return ArchiveConfig(
        location=location,
        options=values["archive_options"],
        server_side_encryption=values["archive_server_side_encryption"],
        kms_key_id=values["archive_kms_key_id"],
        uploads_in_flight=values["archive_uploads_in_flight"],
        bytes_in_flight=values["archive_bytes_in_flight"],
        max_attempts=values["max_retries"],
        request_timeout_s=values["request_timeout_s"],
    )


def declared_settings(settings_class: type) -> tuple[Setting, ...]:
    """The settings the ``declare`` fields of a dataclass declare, in field order."""
    return tuple(spec.metadata[_DECLARATION](spec.name) for spec in fields(settings_class))


# The order of --about, meltano.yml and (within each group) docs/settings.md.
DECLARED: Final = declared_settings(Settings)


def setting_named(name: str) -> Setting:
    """The declared setting a user writes as ``name``; ``KeyError`` if there is none."""
    for setting in DECLARED:
        if setting.name == name:
            return setting
    raise KeyError(name)


def json_schema() -> dict[str, Any]:
    """A new JSON schema of the declared settings.

    New on every call: singer-sdk adds its built-in settings (stream maps, flattening, batch)
    to a tap's ``config_jsonschema`` in place, and that must not leak into other users.
    """
    return th.PropertiesList(*(setting.schema_property() for setting in DECLARED)).to_dict()
