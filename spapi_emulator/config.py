"""Emulator settings: dataset shape, credentials, token lifetimes, usage plans and faults.

``EmulatorConfig`` declares every switch once (spapi_emulator/options.py): the field, its
command-line flag, its --help line and its row in docs/emulator.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from spapi_emulator.errors import NEXT_TOKEN_REFUSALS, NextTokenRefusal
from spapi_emulator.isotime import parse_iso8601
from spapi_emulator.options import coerce_choices, option, python_only

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

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


class FollowUp(StrEnum):
    """What a getInvoices or getInvoicesExports follow-up page carries with its nextToken.

    ``ALL_ARGUMENTS``: the same arguments as the call that produced it (the model's parameter
    text); ``TOKEN_ONLY``: marketplaceId alone (its static sandbox); ``EITHER``: a service
    that takes both.
    """

    ALL_ARGUMENTS = "all-arguments"
    TOKEN_ONLY = "token-only"  # noqa: S105 - a reading's name
    EITHER = "either"


class ExportDateForm(StrEnum):
    """Which createInvoicesExport dateStart/dateEnd texts are accepted.

    Any ISO 8601 form, only the model example's zone-less date-time, or only date-times with
    a zone.
    """

    ANY = "any"
    NO_ZONE = "no-zone"
    WITH_ZONE = "with-zone"


class DocumentBody(StrEnum):
    """What the pre-signed document URL serves.

    ``ZIP``: the model's "zip format"; ``XML``: one bare NF-e XML under a ``.xml`` URL, as the
    static sandbox example's URL suggests; ``BROKEN``: the ZIP cut in half on every download
    (a truncated ZIP; hostile, not a claim about Amazon; ``DocumentShape`` has the others).
    """

    ZIP = "zip"
    XML = "xml"
    BROKEN = "broken"


class DocumentShape(StrEnum):
    """How every export document's ZIP is broken (invoices/hostile_documents.py).

    None of these is a claim about Amazon: shapes outside the model's "zip format" of one
    NF-e XML file per invoice.
    """

    NONE = "none"
    EMPTY = "empty"  # a ZIP without entries
    NESTED = "nested"  # the first file, then inner.zip holding the rest and deeper.zip
    NOT_XML = "not-xml"  # the files, then README.txt and logo.png
    DUPLICATE_NAMES = "duplicate-names"  # every file under a/, the first again under b/
    BOMB = "bomb"  # the files, then bomb.xml: document_bomb_bytes of zeros, deflated
    ENCRYPTED = "encrypted"  # the first entry flagged as encrypted
    UNSUPPORTED_METHOD = "unsupported-method"  # the first entry's method is 9 (Deflate64)
    CORRUPT = "corrupt"  # 64 bytes in the middle of the first entry's deflate data flipped
    TRUNCATED_ONCE = "truncated-once"  # the first download cut in half, later ones whole
    NON_UTF8_NAME = "non-utf8-name"  # the first entry's name flagged UTF-8, not UTF-8
    NON_UTF8_BYTES = "non-utf8-bytes"  # every XML file in ISO-8859-1 (not UTF-8)
    ENDLESS = "endless"  # the download never ends (zero bytes, no Content-Length)


class HostileValue(StrEnum):
    """What the chosen getCustomerInvoices invoices (or nextTokens) carry (hostile.py).

    None of these is a claim about Amazon: values of the wrong JSON type or pattern.
    """

    NONE = "none"
    PO_NULL = "po-null"  # "purchaseOrderNumber": null
    PO_ABSENT = "po-absent"  # no purchaseOrderNumber key
    PO_EMPTY = "po-empty"  # "purchaseOrderNumber": ""
    PO_LIST = "po-list"  # "purchaseOrderNumber": ["PO..."]
    PO_PATTERN = "po-pattern"  # "purchaseOrderNumber": "PO-...", outside ^[a-zA-Z0-9]+$
    CONTENT_NULL = "content-null"  # "content": null
    NEXT_TOKEN_OBJECT = "next-token-object"  # noqa: S105 - "nextToken": {"token": "..."}


class Section(StrEnum):
    """The groups of ``--help`` and docs/emulator.md, in their order."""

    DATASET = "Dataset (both APIs; read once, when the server starts)"
    PARTNERS = "Credentials, tokens and selling partners"
    LIMITS = "Usage plans and time"
    FAULTS = "Faults (opt-in; hostile, not claims about Amazon)"
    INVOICES = "Invoices API exports and documents"
    READINGS = "Readings of ambiguous points (docs/quirks.md)"
    HOSTILE = "Hostile answers (hostile.py; cases for the tap's bounds, not claims about Amazon)"


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


def _default_rate_limits() -> Mapping[str, tuple[float, int]]:
    return dict(DEFAULT_RATE_LIMITS)


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


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {text!r}")
    return value


def _latency(text: str) -> tuple[float, float]:
    """Parse ``150-450`` (or ``200``) milliseconds."""
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH milliseconds, got {text!r}") from None
    return bounds


def _moment(text: str) -> datetime:
    moment = parse_iso8601(text)
    if moment is None:
        raise argparse.ArgumentTypeError(f"expected e.g. 2024-01-01T00:00:00Z, got {text!r}")
    return moment


def _comma_separated(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


def _partners_from_flag(count: int, flags: Mapping[str, Any]) -> tuple[SellingPartner, ...]:
    return numbered_partners(count, flags["seed"])


def _shown_latency(bounds: tuple[float, float]) -> str:
    return f"{bounds[0]:g}-{bounds[1]:g}"


def _shown_moment(moment: datetime) -> str:
    return moment.isoformat()


def _shown_list(values: tuple[str, ...]) -> str:
    return ",".join(values)


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """Everything that shapes the emulator's data and behaviour, one declared field each.

    Each field's ``option(...)`` is also its command-line flag (``--field-name``, or
    ``--no-field-name`` for a switch that is on by default), its ``--help`` line and its row
    in docs/emulator.md (spapi_emulator/options.py); ``python_only(...)`` fields have no flag.
    Adding a switch is one field here and its use.

    Frozen: a test changes a running emulator with ``EmulatorServer.reconfigure(...)``, which
    puts a new, checked config in place that the next request reads (``LiveConfig``). The
    dataset fields are read once, when the server builds its datasets.
    """

    # -- dataset ---------------------------------------------------------------------------
    seed: int = option(
        7, "Seed of the datasets, the fault dice and the latency dice.", Section.DATASET
    )
    dataset_start: datetime = option(
        DEFAULT_DATASET_START,
        "First dataset day (an aware date-time; midnight UTC by default).",
        Section.DATASET,
        parse=_moment,
        metavar="DATE-TIME",
        show=_shown_moment,
    )
    days: int = option(90, "Number of dataset days.", Section.DATASET)
    invoices_per_day: int = option(
        200, "getCustomerInvoices invoices per ship-from party and day.", Section.DATASET
    )
    parties: tuple[str, ...] = option(
        DEFAULT_PARTIES,
        "Ship-from party ids (vendor warehouses), comma-separated; each invoice belongs to one.",
        Section.DATASET,
        parse=_comma_separated,
        metavar="ID,ID",
        show=_shown_list,
    )
    content_bytes: int = option(2000, "Size in bytes of each decoded fake PDF.", Section.DATASET)
    boundary_every: int = option(
        25,
        "Every Nth invoice of a party-day is stamped exactly on a whole hour, so "
        "window-boundary tests have real cases; 0 disables.",
        Section.DATASET,
    )
    purchase_order_prefix: str = python_only(
        "Letters every purchase order number starts with.", Section.DATASET, default="PO"
    )
    invoices_api_per_day: int = option(
        20, "Invoices API (Brazil NF-e) invoices per dataset day.", Section.DATASET
    )

    # -- credentials, tokens and selling partners -------------------------------------------
    client_id: str = option("emulator-client-id", "The only valid LWA client id.", Section.PARTNERS)
    client_secret: str = option(
        "emulator-client-secret",
        "The only valid LWA client secret.",
        Section.PARTNERS,
    )
    refresh_token: str = option(
        "Atzr|emulator-refresh-token",
        "The primary selling partner's LWA refresh token.",
        Section.PARTNERS,
    )
    selling_partner_id: str = python_only(
        "Label of the primary selling partner (stats only).", Section.PARTNERS, default="SP1"
    )
    selling_partners: tuple[SellingPartner, ...] = option(
        (),
        "N more selling partners of the same app, each with its own refresh token, dataset "
        "and token buckets: refresh tokens Atzr|emulator-refresh-token-2 ... -(N+1); the "
        "first one's purchase order numbers overlap the primary's on purpose. From Python, "
        "any SellingPartner tuple.",
        Section.PARTNERS,
        metavar="N",
        parse=int,
        from_flag=_partners_from_flag,
        flag_default=0,
    )
    token_rendezvous: int = python_only(
        "The token endpoint answers no valid refresh token until this many distinct selling "
        "partners have asked: a test that N accounts really run at once (sequential runs "
        "would wait forever). 0: off.",
        Section.PARTNERS,
        default=0,
    )
    access_token_ttl: float = option(
        3600.0, "Lifetime of LWA access tokens in seconds (real service: 3600).", Section.PARTNERS
    )
    rdt_ttl: float = option(
        3600.0,
        "Lifetime of restricted data tokens in seconds (real service: 3600).",
        Section.PARTNERS,
    )
    require_rdt: bool = option(
        True,  # noqa: FBT003 - the default of a field
        "getCustomerInvoices demands an RDT minted for its exact path; off, it also accepts a "
        "plain LWA access token (Amazon's withdrawn notice that LWA tokens would stop "
        "returning PII, see pipeline.require_restricted_token).",
        Section.PARTNERS,
    )
    rdt_denied: bool = option(
        False,  # noqa: FBT003 - the default of a field
        "createRestrictedDataToken answers 400 like for a vendor whose application lacks the "
        "Direct-to-Consumer Shipping (Restricted) role.",
        Section.PARTNERS,
    )
    denied_operations: frozenset[str] = python_only(
        "operationIds that answer 403 Unauthorized whatever the token, as Amazon does for an "
        "app that lacks the operation's role (e.g. Tax Invoicing (Restricted) for the "
        "Invoices API).",
        Section.PARTNERS,
        default=frozenset(),
    )
    rdt_fail_once_503: bool = option(
        False,  # noqa: FBT003 - the default of a field
        "The first createRestrictedDataToken call answers 503.",
        Section.PARTNERS,
    )

    # -- usage plans and time --------------------------------------------------------------
    rate_limits: Mapping[str, tuple[float, int]] = python_only(
        "operationId -> (rate per second, burst) of the token buckets; the models' usage "
        "plans (DEFAULT_RATE_LIMITS) by default.",
        Section.LIMITS,
        factory=_default_rate_limits,
    )
    rate_limit_header: Mapping[str, float] = python_only(
        "operationId -> rate advertised in x-amzn-RateLimit-Limit and enforced instead of the "
        "plan's rate (a selling partner with a granted rate).",
        Section.LIMITS,
        factory=dict,
    )
    throttle: bool = option(
        True,  # noqa: FBT003 - the default of a field
        "Enforce the usage-plan buckets; off for benchmarks without limits (the header is "
        "still sent).",
        Section.LIMITS,
    )
    time_scale: float = option(
        1.0,
        "Rates and export schedules run this many times faster (minute-scale budgets finish "
        "in seconds).",
        Section.LIMITS,
    )

    # -- faults ----------------------------------------------------------------------------
    latency_ms: tuple[float, float] = option(
        (0.0, 0.0),
        "Uniform random latency (LOW-HIGH, or one value) in milliseconds added to every request.",
        Section.FAULTS,
        parse=_latency,
        metavar="LOW-HIGH",
        show=_shown_latency,
    )
    fault_5xx_rate: float = option(
        0.0,
        "Probability that an SP-API request answers 500 or 503.",
        Section.FAULTS,
        parse=_probability,
    )
    fault_reset_rate: float = option(
        0.0,
        "Probability that an SP-API request is aborted without a response.",
        Section.FAULTS,
        parse=_probability,
    )
    slow_rate: float = option(
        0.0,
        "Probability that an SP-API request sleeps slow_seconds first.",
        Section.FAULTS,
        parse=_probability,
    )
    slow_seconds: float = option(30.0, "Sleep of a slow request, in seconds.", Section.FAULTS)
    malformed_json_rate: float = option(
        0.0,
        "Probability that a 200 answer carries a truncated JSON body.",
        Section.FAULTS,
        parse=_probability,
    )
    next_token_ttl: float | None = option(
        None, "Seconds until a nextToken expires; unset, never.", Section.FAULTS, parse=float
    )
    refuse_next_tokens: int = option(
        0,
        "This many requests carrying a nextToken (both APIs, counted over the run), after the "
        "first refuse_next_tokens_after, are refused in the next_token_refusal wording, as an "
        "expired token is: a deterministic way to make windows restart.",
        Section.FAULTS,
    )
    refuse_next_tokens_after: int = option(
        0, "Requests carrying a nextToken accepted before refusals start.", Section.FAULTS
    )
    invoices_empty_page_rate: float = option(
        0.1,
        "Probability that a getInvoices or getInvoicesExports page comes back empty with a "
        "nextToken to the same position (seeded by the query and the position, at most once "
        "per position).",
        Section.FAULTS,
        parse=_probability,
    )
    nfe_malformed_rate: float = option(
        0.0,
        "Share of NF-e files cut short (not well-formed XML), drawn per invoice from the seed: "
        "the tap must keep their raw record and go on.",
        Section.FAULTS,
        parse=_probability,
    )

    # -- Invoices API exports and documents --------------------------------------------------
    nfe_xml_bytes: int = option(
        3000,
        "Size in bytes of each NF-e XML file in an export document (a floor: the XML never "
        "gets smaller than its items and signature, about 6-8 KB).",
        Section.INVOICES,
    )
    invoices_per_document: int = option(
        15,
        "Most invoices one export document (ZIP) holds; larger exports get several documents.",
        Section.INVOICES,
    )
    nfe_cancellation_events: bool = option(
        True,  # noqa: FBT003 - the default of a field
        "A document's ZIP also holds the cancellation event (procEventoNFe, 110111) of each "
        "CANCELED invoice, as <id>-procEventoNFe.xml.",
        Section.INVOICES,
    )
    document_body: DocumentBody = option(
        DocumentBody.ZIP,
        "What the pre-signed document URL serves: zip (the model's 'zip format'), xml (one bare "
        "NF-e XML under a .xml URL, as the static sandbox example's URL suggests; needs "
        "invoices_per_document 1) or broken (the ZIP cut in half on every download; "
        "document_shape truncated-once cuts the first download only).",
        Section.INVOICES,
    )
    export_history_error_rate: float = option(
        0.1,
        "Share of the pre-existing daily exports that ended in ERROR.",
        Section.INVOICES,
        parse=_probability,
    )
    export_history_pending: int = option(
        2,
        "How many of the most recent pre-existing exports are still REQUESTED (the newest) or "
        "PROCESSING when the server starts; they finish DONE on the created exports' schedule.",
        Section.INVOICES,
    )
    export_queue_seconds: float = option(
        30.0, "Seconds a created export stays REQUESTED (divided by time_scale).", Section.INVOICES
    )
    export_processing_seconds: float = option(
        120.0, "Seconds it then stays PROCESSING (divided by time_scale).", Section.INVOICES
    )
    export_error_rate: float = option(
        0.0,
        "Probability that a created export ends in ERROR (seeded dice, in creation order).",
        Section.INVOICES,
        parse=_probability,
    )
    export_error_predicate: Callable[[datetime, datetime], bool] | None = python_only(
        "Called with a created export's (dateStart, dateEnd); True makes it end in ERROR.",
        Section.INVOICES,
    )
    document_url_ttl: float = option(
        30.0,
        "Seconds a getInvoicesDocument URL stays valid; real seconds on the monotonic clock, "
        "not divided by time_scale (real service: 30).",
        Section.INVOICES,
    )

    # -- readings of ambiguous points ------------------------------------------------------
    inclusive_bounds: bool = option(
        False,  # noqa: FBT003 - the default of a field
        "getCustomerInvoices compares createdAfter and createdBefore inclusively on both ends; "
        "off, strictly, as the API's words say (on lets tests prove a client de-duplicates).",
        Section.READINGS,
    )
    customer_invoice_history_days: float | None = python_only(
        "Unset: getCustomerInvoices lists invoices of any age; a number: only those created "
        "within that many days before now (the reading where Amazon's 'rolling window of the "
        "last six months', written for getCustomerInvoice, limits the list too).",
        Section.READINGS,
    )
    next_token_refusal: NextTokenRefusal = option(
        NextTokenRefusal.FBA_INVENTORY,
        "How a refused nextToken is worded on every paged operation (errors.NEXT_TOKEN_REFUSALS).",
        Section.READINGS,
    )
    invoices_follow_up: FollowUp = option(
        FollowUp.ALL_ARGUMENTS,
        "What a getInvoices or getInvoicesExports follow-up page must carry with its nextToken: "
        "all-arguments of the first call (the model's text), token-only (marketplaceId alone, "
        "the static sandbox) or either.",
        Section.READINGS,
    )
    df_static_sandbox: bool = option(
        False,  # noqa: FBT003 - the default of a field
        "getCustomerInvoices v1 answers every request with the model's catch-all static "
        "sandbox example: one invoice and the same nextToken, forever.",
        Section.READINGS,
    )
    shapeless_body_every: int = option(
        0,
        "Every Nth getCustomerInvoices answer (counted over the run) is a 200 {}, as DF v1 "
        "getPackingSlip answered (amzn/selling-partner-api-docs#200); 0 never.",
        Section.READINGS,
    )
    export_date_form: ExportDateForm = option(
        ExportDateForm.ANY,
        "Which createInvoicesExport dateStart/dateEnd texts are accepted: any ISO 8601 form, "
        "no-zone (the model example's form only) or with-zone; others get 400 naming the field.",
        Section.READINGS,
    )

    # -- hostile answers ---------------------------------------------------------------------
    huge_invoice_every: int = option(
        0,
        "Every Nth invoice of a party and day (by its sequence number) has a PDF of "
        "huge_invoice_bytes instead of content_bytes; 0 never. Read once, with the dataset.",
        Section.HOSTILE,
    )
    huge_invoice_bytes: int = option(
        0, "Size in bytes of those PDFs. Read once, with the dataset.", Section.HOSTILE
    )
    chunked_answers: bool = option(
        False,  # noqa: FBT003 - the default of a field
        "getCustomerInvoices answers in chunks, without Content-Length.",
        Section.HOSTILE,
    )
    hostile_value: HostileValue = option(
        HostileValue.NONE,
        "What every hostile_value_every-th invoice (or, for next-token-object, every "
        "nextToken) of getCustomerInvoices carries: none, po-null, po-absent, po-empty, "
        "po-list, po-pattern (a purchaseOrderNumber with a dash), content-null, "
        "next-token-object.",
        Section.HOSTILE,
    )
    hostile_value_every: int = option(
        50, "Which invoices carry hostile_value (by sequence number).", Section.HOSTILE
    )
    retry_after_seconds: float | None = option(
        None,
        "Retry-After sent with every 429, 500 and 503; unset, never.",
        Section.HOSTILE,
        parse=float,
    )
    endless_next_tokens: bool = option(
        False,  # noqa: FBT003 - the default of a field
        "getCustomerInvoices answers every page, past the last invoice too, with a fresh "
        "nextToken (to empty pages): paging never ends.",
        Section.HOSTILE,
    )
    next_token_bytes: int = option(
        0,
        "getCustomerInvoices nextTokens are padded to this many characters (0: their natural "
        "44); past about 6,000 the emulator's own HTTP server (aiohttp, 8,190 bytes a request "
        "line) refuses the follow-up request with a plain-text 400.",
        Section.HOSTILE,
    )

    document_shape: DocumentShape = option(
        DocumentShape.NONE,
        "How every export document's ZIP is broken: none, empty (no entries), nested (the "
        "first file, then inner.zip holding the others and deeper.zip, a ZIP two levels deep), "
        "not-xml (README.txt and logo.png besides the files), duplicate-names (every file "
        "under a/, the first again under b/), bomb (bomb.xml: document_bomb_bytes of zeros), "
        "encrypted, unsupported-method (Deflate64), corrupt (deflate data flipped), "
        "non-utf8-name (an entry name flagged UTF-8 that is not) - each on the first entry - "
        "truncated-once (each document's first download cut in half, later ones whole), "
        "non-utf8-bytes (every XML file in ISO-8859-1) or endless (a download that never "
        "ends). Needs document_body zip.",
        Section.HOSTILE,
    )
    document_shape_every: int = option(
        1,
        "Which documents document_shape (and document_body broken) breaks: the Nth, 2Nth, ... "
        "in creation order; 1: every one (2 lets the documents before a broken one finish).",
        Section.HOSTILE,
    )
    document_bomb_bytes: int = option(
        2 << 30,
        "Unzipped size of document_shape bomb's bomb.xml (2 GiB of zeros deflate to 2 MB).",
        Section.HOSTILE,
    )

    def __post_init__(self) -> None:
        """Reject settings the dataset or the buckets cannot honour.

        Raises:
            ValueError: A setting is out of range.

        """
        coerce_choices(self)
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
        counts = (self.shapeless_body_every, self.refuse_next_tokens, self.refuse_next_tokens_after)
        if min(counts) < 0:
            raise ValueError("shapeless_body_every and refuse_next_tokens* must be >= 0")
        self._check_hostile()

    def _check_hostile(self) -> None:
        """Reject hostile switches out of range (see ``__post_init__``)."""
        counts = (self.huge_invoice_every, self.hostile_value_every, self.next_token_bytes)
        if min(counts) < 0:
            raise ValueError(
                "huge_invoice_every, hostile_value_every, next_token_bytes must be >= 0"
            )
        if self.huge_invoice_every and self.huge_invoice_bytes < len(PDF_HEADER):
            raise ValueError(f"huge_invoice_bytes must be at least {len(PDF_HEADER)}")
        if self.retry_after_seconds is not None and self.retry_after_seconds < 0:
            raise ValueError("retry_after_seconds must be >= 0")
        if self.document_shape_every < 1:
            raise ValueError("document_shape_every must be >= 1")
        if not 0 < self.document_bomb_bytes < 1 << 32:
            raise ValueError("document_bomb_bytes must be in 1..4294967295 (no ZIP64)")
        if self.document_shape is not DocumentShape.NONE and self.document_body is not (
            DocumentBody.ZIP
        ):
            raise ValueError("document_shape breaks a ZIP: set document_body zip")

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
        if self.document_body is DocumentBody.XML and self.invoices_per_document != 1:
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


class LiveConfig:
    """The config every request reads, replaced whole while the server runs.

    Shared by a server's selling partners and by the parts that read the config per request
    (buckets, fault dice, exports). ``replace`` builds the new config with
    ``dataclasses.replace``, so it is checked like a new one; a reader holding the old one
    finishes its request with it.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        """Start from ``config``."""
        self._current = config
        self._lock = threading.Lock()

    @property
    def current(self) -> EmulatorConfig:
        """The config in force now."""
        return self._current

    def replace(self, **changes: Any) -> EmulatorConfig:  # noqa: ANN401 - EmulatorConfig's fields
        """Put the current config with ``changes`` in force; return it.

        Raises:
            ValueError: The changed config is invalid (nothing changes then).
            TypeError: A name is not a field of ``EmulatorConfig``.

        """
        with self._lock:
            self._current = dataclasses.replace(self._current, **changes)
            return self._current


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
