"""Emulator settings: dataset shape, credentials, token lifetimes, usage plans and faults."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from spapi_emulator.errors import NEXT_TOKEN_REFUSALS
from spapi_emulator.hostile import HOSTILE_VALUES, NO_HOSTILE_VALUE

if TYPE_CHECKING:
    from collections.abc import Callable

# operationIds as the SP-API models spell them; rate limits, stats and logs are keyed by them.
GET_CUSTOMER_INVOICES = "getCustomerInvoices"
CREATE_RESTRICTED_DATA_TOKEN = "createRestrictedDataToken"  # noqa: S105 - an operationId
# Not an SP-API operation: the Login with Amazon token endpoint, named for the stats only.
LWA_TOKEN = "lwaToken"  # noqa: S105 - a stats key
# Invoices API 2024-06-19 (InvoicesApiModel_2024-06-19.json).
GET_INVOICES_ATTRIBUTES = "getInvoicesAttributes"
GET_INVOICES = "getInvoices"
GET_INVOICE = "getInvoice"
CREATE_INVOICES_EXPORT = "createInvoicesExport"
GET_INVOICES_EXPORTS = "getInvoicesExports"
GET_INVOICES_EXPORT = "getInvoicesExport"
GET_INVOICES_DOCUMENT = "getInvoicesDocument"
# Not SP-API operations: downloads of pre-signed document URLs, named for the stats only.
S3_DOWNLOAD = "s3Download"
S3_DOWNLOAD_EXPIRED = "s3DownloadExpired"

# Default usage plans (rate per second, burst) from the models' usage-plan tables:
# vendorDirectFulfillmentShipping (both versions) and tokens_2021-03-01 as vendored in
# tests/spapi_models/; InvoicesApiModel_2024-06-19 as of amzn/selling-partner-api-models
# commit 2db0db7, the last to print them. Kept apart from the tap's table
# (tap_spinvoices/spapi/operations.py) on purpose: tests/unit/test_operations.py compares them.
DEFAULT_RATE_LIMITS: dict[str, tuple[float, int]] = {
    GET_CUSTOMER_INVOICES: (10.0, 10),
    CREATE_RESTRICTED_DATA_TOKEN: (1.0, 10),
    "getInvoicesExports": (0.1, 20),
    "getInvoicesExport": (2.0, 15),
    "getInvoicesDocument": (1 / 60, 1),
    "createInvoicesExport": (1 / 6, 1),
    "getInvoices": (0.1, 20),
    "getInvoice": (2.0, 15),
    "getInvoicesAttributes": (1.0, 1),
}

# Readings of the Invoices API's follow-up pages (invoices_follow_up): the model's parameter
# text, where a nextToken goes with the same arguments as the call that produced it; its
# static sandbox, where it goes with marketplaceId alone; or a service that takes either.
FOLLOW_UP_ALL_ARGUMENTS = "all-arguments"
FOLLOW_UP_TOKEN_ONLY = "token-only"  # noqa: S105 - a mode name
FOLLOW_UP_EITHER = "either"
FOLLOW_UP_READINGS = (FOLLOW_UP_ALL_ARGUMENTS, FOLLOW_UP_TOKEN_ONLY, FOLLOW_UP_EITHER)
# Which createInvoicesExport dateStart/dateEnd texts are accepted (export_date_form): any ISO
# 8601 form, only the model example's zone-less date-time, or only date-times with a zone.
EXPORT_DATES_ANY = "any"
EXPORT_DATES_NO_ZONE = "no-zone"
EXPORT_DATES_WITH_ZONE = "with-zone"
EXPORT_DATE_FORMS = (EXPORT_DATES_ANY, EXPORT_DATES_NO_ZONE, EXPORT_DATES_WITH_ZONE)

DEFAULT_PARTIES: tuple[str, ...] = ("WH-BLR-1", "WH-DEL-2")
DEFAULT_DATASET_START = datetime(2024, 1, 1, tzinfo=UTC)

# Fixed widths keep purchase order numbers unique and sortable (see dataset.py).
MAX_PARTIES = 100
MAX_DAYS = 100_000
MAX_INVOICES_PER_DAY = 1_000_000
# The fake PDF starts with this header; content_bytes cannot be smaller.
PDF_HEADER = b"%PDF-1.4\n"
# Invoices API documents: at most this many NF-e XML files per ZIP, and at least one.
MAX_INVOICES_PER_DOCUMENT = 100_000


def _default_rate_limits() -> dict[str, tuple[float, int]]:
    return dict(DEFAULT_RATE_LIMITS)


# EmulatorConfig.document_body values.
DOCUMENT_BODIES = ("zip", "xml", "broken")


@dataclass(frozen=True)
class SellingPartner:
    """Another selling partner who authorised the same app (same client id and secret).

    Amazon's usage plans belong to a selling partner and application pair, so each partner
    gets its own token buckets, and its own dataset (built from ``seed`` and
    ``purchase_order_prefix``; everything else is the emulator's config).

    Attributes:
        selling_partner_id: A label naming the partner in stats and logs.
        refresh_token: The refresh token this partner granted the app.
        seed: Seed of this partner's datasets.
        purchase_order_prefix: Letters its purchase order numbers start with; the emulator's
            own ``purchase_order_prefix`` (default ``PO``) makes numbers overlap on purpose.

    """

    selling_partner_id: str
    refresh_token: str
    seed: int
    purchase_order_prefix: str = "PO"


def numbered_partners(count: int, seed: int) -> tuple[SellingPartner, ...]:
    """``count`` extra selling partners: ``SP2``, ``SP3``, ... with refresh tokens ``...-2``, ...

    The first one shares the default ``PO`` prefix (its purchase order numbers overlap the
    primary partner's on purpose); the others get ``PB``, ``PC``, ... (no overlap).

    Args:
        count: How many partners besides the primary one.
        seed: The emulator's seed; partner k gets seed + k.

    Returns:
        The partners.

    """
    return tuple(
        SellingPartner(
            selling_partner_id=f"SP{k + 1}",
            refresh_token=f"Atzr|emulator-refresh-token-{k + 1}",
            seed=seed + k,
            purchase_order_prefix="PO" if k == 1 else "P" + chr(ord("A") + k - 1),
        )
        for k in range(1, count + 1)
    )


@dataclass
class EmulatorConfig:
    """Everything that shapes the emulator's data and behaviour.

    The instance is mutable on purpose: tests flip fault rates, token lifetimes and rate limits
    while the server runs, and every request reads the current values. Only the dataset fields
    (``seed``, ``dataset_start``, ``days``, ``invoices_per_day``, ``parties``, ``content_bytes``,
    ``boundary_every``, ``huge_invoice_every``, ``huge_invoice_bytes``, and for the Invoices
    API ``invoices_api_per_day``, ``nfe_xml_bytes``, ``invoices_per_document``,
    ``export_history_error_rate``, ``export_history_pending``) are read once, when the server
    builds its dataset.

    Attributes:
        seed: Seed of the dataset, the fault dice and the latency dice.
        dataset_start: Aware datetime of the first dataset day (midnight UTC by default).
        days: Number of dataset days.
        invoices_per_day: Invoices per ship-from party and day.
        parties: Ship-from party ids (vendor warehouses); each invoice belongs to one.
        content_bytes: Size in bytes of each decoded fake PDF.
        boundary_every: Every Nth invoice of a party-day is stamped exactly on a whole hour so
            window-boundary tests have real cases; 0 disables.
        client_id: The only valid LWA client id.
        client_secret: The only valid LWA client secret.
        refresh_token: The primary selling partner's LWA refresh token.
        selling_partner_id: Label of the primary selling partner (stats only).
        purchase_order_prefix: Letters every purchase order number starts with.
        selling_partners: Further selling partners of the same app, each with its own refresh
            token, dataset and token buckets (see ``SellingPartner``).
        token_rendezvous: The token endpoint answers no valid refresh token until this many
            distinct selling partners have asked: a test that N accounts really run at once
            (sequential runs would wait forever). 0: off. Python only, no CLI flag.
        access_token_ttl: Lifetime of LWA access tokens in seconds (real service: 3600).
        rdt_ttl: Lifetime of restricted data tokens in seconds (real service: 3600).
        require_rdt: getCustomerInvoices demands an RDT minted for its exact path; False also
            accepts a plain LWA access token (Amazon's withdrawn notice that LWA tokens would
            stop returning PII, see pipeline.require_restricted_token).
        rdt_denied: createRestrictedDataToken answers 400 like for a vendor whose application
            lacks the Direct-to-Consumer Shipping (Restricted) role.
        rdt_fail_once_503: The first createRestrictedDataToken call answers 503.
        latency_ms: Uniform random latency (low, high) in milliseconds added to every request.
        rate_limits: operationId -> (rate per second, burst) of the token buckets.
        rate_limit_header: operationId -> rate advertised in ``x-amzn-RateLimit-Limit`` and
            enforced instead of the plan's rate (a selling partner with a granted rate).
        throttle: False stops enforcing the buckets (benchmarks without limits); the header is
            still sent.
        time_scale: Rates run this many times faster (minute-scale budgets finish in seconds).
        fault_5xx_rate: Probability that an SP-API request answers 500 or 503.
        fault_reset_rate: Probability that an SP-API request is aborted without a response.
        slow_rate: Probability that an SP-API request sleeps ``slow_seconds`` first.
        slow_seconds: Sleep of a slow request, in seconds.
        malformed_json_rate: Probability that a 200 answer carries a truncated JSON body.
        next_token_ttl: Seconds until a nextToken expires; None: never.
        inclusive_bounds: False: createdAfter < created < createdBefore, strict as the API's
            words say; True: inclusive on both ends (lets tests prove a client de-duplicates).
        customer_invoice_history_days: None: getCustomerInvoices lists invoices of any age;
            a number: it lists only those created within that many days before now (the
            reading where Amazon's "rolling window of the last six months", written for
            getCustomerInvoice, limits the list too; docs/quirks.md).
        invoices_api_per_day: Invoices API (Brazil NF-e) invoices per dataset day.
        nfe_xml_bytes: Size in bytes of each NF-e XML file in an export document (a floor: the
            XML never gets smaller than its items and signature, about 6-8 KB).
        invoices_per_document: Most invoices one export document (ZIP) holds; larger exports
            get several documents.
        nfe_cancellation_events: A document's ZIP also holds the cancellation event
            (``procEventoNFe``, 110111) of each CANCELED invoice, as ``<id>-procEventoNFe.xml``.
        nfe_malformed_rate: Share of NF-e files cut short (not well-formed XML), drawn per
            invoice from the seed: the tap must keep their raw record and go on.
        document_body: What the pre-signed document URL serves: ``"zip"`` (the model's
            "zip format"), ``"xml"`` (one bare NF-e XML under a ``.xml`` URL, as the static
            sandbox example's URL suggests; needs ``invoices_per_document`` 1) or
            ``"broken"`` (the ZIP cut in half: neither a ZIP nor XML).
        export_history_error_rate: Share of the pre-existing daily exports that ended in ERROR.
        export_history_pending: How many of the most recent pre-existing exports are still
            REQUESTED (the newest) or PROCESSING when the server starts; they finish DONE on
            the created exports' schedule.
        export_queue_seconds: Seconds a created export stays REQUESTED (divided by time_scale).
        export_processing_seconds: Seconds it then stays PROCESSING (divided by time_scale).
        export_error_rate: Probability that a created export ends in ERROR (seeded dice, in
            creation order).
        export_error_predicate: Called with a created export's (dateStart, dateEnd); True makes
            it end in ERROR. Python only, no CLI flag.
        document_url_ttl: Seconds a getInvoicesDocument URL stays valid; real seconds on the
            monotonic clock, not divided by time_scale (real service: 30).
        invoices_empty_page_rate: Probability that a getInvoices or getInvoicesExports page
            comes back empty with a nextToken to the same position (seeded by the query and
            the position, at most once per position).
        refuse_next_tokens: This many requests carrying a nextToken (both APIs, counted over
            the run), after the first ``refuse_next_tokens_after``, are refused in the
            ``next_token_refusal`` wording, as an expired token is: a deterministic way to make
            windows restart.
        refuse_next_tokens_after: Requests carrying a nextToken accepted before refusals start.
        next_token_refusal: Key of ``errors.NEXT_TOKEN_REFUSALS``: how a refused nextToken is
            worded, on every paged operation.
        invoices_follow_up: What a getInvoices or getInvoicesExports follow-up page must carry
            with its nextToken: ``all-arguments`` of the first call (the model's text, the
            default), ``token-only`` (marketplaceId alone, the static sandbox) or ``either``.
        df_static_sandbox: getCustomerInvoices v1 answers every request with the model's
            catch-all static sandbox example: one invoice and the same nextToken, forever.
        shapeless_body_every: Every Nth getCustomerInvoices answer (counted over the run) is a
            200 ``{}``, as DF v1 getPackingSlip answered (amzn/selling-partner-api-docs#200);
            0 never.
        export_date_form: Which createInvoicesExport dateStart/dateEnd texts are accepted:
            ``any`` ISO 8601 form (default), ``no-zone`` (the model example's form only) or
            ``with-zone``; others get 400 naming the field.

    Hostile answers (hostile.py; cases for the tap's bounds, not claims about Amazon):

    Attributes:
        huge_invoice_every: Every Nth invoice of a party and day (by its sequence number)
            has a PDF of ``huge_invoice_bytes`` instead of ``content_bytes``; 0 never.
        huge_invoice_bytes: Size in bytes of those PDFs.
        chunked_answers: getCustomerInvoices answers in chunks, without Content-Length.
        hostile_value: What every ``hostile_value_every``-th invoice (or, for
            ``next-token-object``, every nextToken) of getCustomerInvoices carries:
            ``none`` (default), ``po-null``, ``po-absent``, ``po-empty``, ``po-list``,
            ``po-pattern`` (a purchaseOrderNumber with a dash), ``content-null``,
            ``next-token-object``.
        hostile_value_every: Which invoices carry ``hostile_value`` (by sequence number).
        retry_after_seconds: ``Retry-After`` sent with every 429, 500 and 503; None: never.
        endless_next_tokens: getCustomerInvoices answers every page, past the last invoice
            too, with a fresh nextToken (to empty pages): paging never ends.
        next_token_bytes: getCustomerInvoices nextTokens are padded to this many characters
            (0: their natural 44); past about 6,000 the emulator's own HTTP server (aiohttp,
            8,190 bytes a request line) refuses the follow-up request with a plain-text 400.

    """

    seed: int = 7
    dataset_start: datetime = DEFAULT_DATASET_START
    days: int = 90
    invoices_per_day: int = 200
    parties: tuple[str, ...] = DEFAULT_PARTIES
    content_bytes: int = 2000
    boundary_every: int = 25
    client_id: str = "emulator-client-id"
    client_secret: str = "emulator-client-secret"  # noqa: S105 - a well-known fake credential
    refresh_token: str = "Atzr|emulator-refresh-token"  # noqa: S105 - a well-known fake credential
    selling_partner_id: str = "SP1"
    purchase_order_prefix: str = "PO"
    selling_partners: tuple[SellingPartner, ...] = ()
    token_rendezvous: int = 0
    access_token_ttl: float = 3600.0
    rdt_ttl: float = 3600.0
    require_rdt: bool = True
    rdt_denied: bool = False
    rdt_fail_once_503: bool = False
    latency_ms: tuple[float, float] = (0.0, 0.0)
    rate_limits: dict[str, tuple[float, int]] = field(default_factory=_default_rate_limits)
    rate_limit_header: dict[str, float] = field(default_factory=dict)
    throttle: bool = True
    time_scale: float = 1.0
    fault_5xx_rate: float = 0.0
    fault_reset_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 30.0
    malformed_json_rate: float = 0.0
    next_token_ttl: float | None = None
    inclusive_bounds: bool = False
    customer_invoice_history_days: float | None = None
    invoices_api_per_day: int = 20
    nfe_xml_bytes: int = 3000
    invoices_per_document: int = 15
    nfe_cancellation_events: bool = True
    nfe_malformed_rate: float = 0.0
    document_body: str = "zip"
    export_history_error_rate: float = 0.1
    export_history_pending: int = 2
    export_queue_seconds: float = 30.0
    export_processing_seconds: float = 120.0
    export_error_rate: float = 0.0
    export_error_predicate: Callable[[datetime, datetime], bool] | None = None
    document_url_ttl: float = 30.0
    invoices_empty_page_rate: float = 0.1
    refuse_next_tokens: int = 0
    refuse_next_tokens_after: int = 0
    next_token_refusal: str = "fba-inventory"  # noqa: S105 - a wording's name
    invoices_follow_up: str = FOLLOW_UP_ALL_ARGUMENTS
    df_static_sandbox: bool = False
    shapeless_body_every: int = 0
    export_date_form: str = EXPORT_DATES_ANY
    huge_invoice_every: int = 0
    huge_invoice_bytes: int = 0
    chunked_answers: bool = False
    hostile_value: str = NO_HOSTILE_VALUE
    hostile_value_every: int = 50
    retry_after_seconds: float | None = None
    endless_next_tokens: bool = False
    next_token_bytes: int = 0

    def __post_init__(self) -> None:
        """Reject settings the dataset or the buckets cannot honour.

        Raises:
            ValueError: A setting is out of range.

        """
        if self.dataset_start.tzinfo is None:
            raise ValueError("dataset_start must be timezone-aware")
        distinct = len(set(self.parties)) == len(self.parties)
        if not distinct or not 1 <= len(self.parties) <= MAX_PARTIES:
            raise ValueError(f"parties must hold 1..{MAX_PARTIES} distinct ids")
        if not 0 <= self.days < MAX_DAYS:
            raise ValueError(f"days must be in 0..{MAX_DAYS - 1}")
        if not 0 <= self.invoices_per_day < MAX_INVOICES_PER_DAY:
            raise ValueError(f"invoices_per_day must be in 0..{MAX_INVOICES_PER_DAY - 1}")
        if self.content_bytes < len(PDF_HEADER):
            raise ValueError(f"content_bytes must be at least {len(PDF_HEADER)}")
        if self.boundary_every < 0:
            raise ValueError("boundary_every must be >= 0")
        self._check_partners()
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        low, high = self.latency_ms
        if not 0 <= low <= high:
            raise ValueError("latency_ms must be (low, high) with 0 <= low <= high")
        self._check_invoices_api()
        self._check_readings()
        self._check_hostile()

    def _check_hostile(self) -> None:
        """Reject hostile switches out of range (see ``__post_init__``)."""
        if self.hostile_value not in HOSTILE_VALUES:
            raise ValueError(f"hostile_value must be one of {', '.join(HOSTILE_VALUES)}")
        counts = (self.huge_invoice_every, self.hostile_value_every, self.next_token_bytes)
        if min(counts) < 0:
            raise ValueError(
                "huge_invoice_every, hostile_value_every, next_token_bytes must be >= 0"
            )
        if self.huge_invoice_every and self.huge_invoice_bytes < len(PDF_HEADER):
            raise ValueError(f"huge_invoice_bytes must be at least {len(PDF_HEADER)}")
        if self.retry_after_seconds is not None and self.retry_after_seconds < 0:
            raise ValueError("retry_after_seconds must be >= 0")

    def _check_readings(self) -> None:
        """Reject unknown readings of ambiguous points (see ``__post_init__``)."""
        if self.next_token_refusal not in NEXT_TOKEN_REFUSALS:
            raise ValueError(f"next_token_refusal must be one of {sorted(NEXT_TOKEN_REFUSALS)}")
        if self.invoices_follow_up not in FOLLOW_UP_READINGS:
            raise ValueError(f"invoices_follow_up must be one of {FOLLOW_UP_READINGS}")
        if self.export_date_form not in EXPORT_DATE_FORMS:
            raise ValueError(f"export_date_form must be one of {EXPORT_DATE_FORMS}")
        counts = (self.shapeless_body_every, self.refuse_next_tokens, self.refuse_next_tokens_after)
        if min(counts) < 0:
            raise ValueError("shapeless_body_every and refuse_next_tokens* must be >= 0")

    @property
    def next_token_refusal_text(self) -> str:
        """The message of a refused nextToken in the chosen wording."""
        return NEXT_TOKEN_REFUSALS[self.next_token_refusal]

    def _check_partners(self) -> None:
        """Reject selling partners the datasets or the LWA route cannot tell apart."""
        prefixes = [
            self.purchase_order_prefix,
            *(p.purchase_order_prefix for p in self.selling_partners),
        ]
        if not all(prefix.isalnum() and prefix.isascii() for prefix in prefixes):
            raise ValueError("purchase order prefixes must be ASCII letters and digits")
        tokens = [self.refresh_token, *(p.refresh_token for p in self.selling_partners)]
        if len(set(tokens)) != len(tokens):
            raise ValueError("every selling partner needs its own refresh token")

    def _check_invoices_api(self) -> None:
        """Reject Invoices API settings out of range (see ``__post_init__``)."""
        if not 0 <= self.invoices_api_per_day < MAX_INVOICES_PER_DAY:
            raise ValueError(f"invoices_api_per_day must be in 0..{MAX_INVOICES_PER_DAY - 1}")
        if not 1 <= self.invoices_per_document <= MAX_INVOICES_PER_DOCUMENT:
            raise ValueError(f"invoices_per_document must be in 1..{MAX_INVOICES_PER_DOCUMENT}")
        if self.document_body not in DOCUMENT_BODIES:
            raise ValueError(f"document_body must be one of {', '.join(DOCUMENT_BODIES)}")
        if self.document_body == "xml" and self.invoices_per_document != 1:
            raise ValueError("document_body 'xml' serves one NF-e: set invoices_per_document 1")
        if self.nfe_xml_bytes < 0 or self.export_history_pending < 0:
            raise ValueError("nfe_xml_bytes and export_history_pending must be >= 0")
        if min(self.export_queue_seconds, self.export_processing_seconds) < 0:
            raise ValueError("export_queue_seconds and export_processing_seconds must be >= 0")
        if self.document_url_ttl <= 0:
            raise ValueError("document_url_ttl must be > 0")
        rates = (
            self.export_history_error_rate,
            self.export_error_rate,
            self.invoices_empty_page_rate,
            self.nfe_malformed_rate,
        )
        if not all(0.0 <= rate <= 1.0 for rate in rates):
            raise ValueError("export and empty-page rates must be probabilities in [0, 1]")

    def operation_rate(self, operation: str) -> tuple[float, int] | None:
        """Return the enforced (rate per second, burst) of an operation, time_scale applied.

        The advertised rate from ``rate_limit_header`` replaces the plan's rate when given,
        because the header is what a selling partner with a granted rate sees.

        Args:
            operation: An operationId.

        Returns:
            (rate, burst), or None when the operation has no usage plan here.

        """
        plan = self.rate_limits.get(operation)
        if plan is None:
            return None
        rate, burst = plan
        rate = self.rate_limit_header.get(operation, rate)
        return rate * self.time_scale, burst


def ensure_loopback(host: str) -> str:
    """Return host if it is a loopback address; the emulator never listens elsewhere.

    Args:
        host: Host name or IP address to bind.

    Returns:
        The same host.

    Raises:
        ValueError: The host is not a loopback address.

    """
    if host == "localhost":
        return host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the emulator binds to loopback only, not {host!r}")
    return host
