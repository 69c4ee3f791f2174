"""Invoices API request validation, error bodies and nextTokens.

Errors use the shape of the model's static sandbox: ``{"errors": [{"code": "400", "message":
"Invalid Request.", "details": "Missing required parameter: 'marketplaceId'"}]}``.

Follow-up pages play one of three readings (``EmulatorConfig.invoices_follow_up``): the
model's parameter text, where a nextToken goes with every argument of the call that produced
it (the default); the static sandbox, where it may only go with ``marketplaceId``
("Specifying nextToken with any other parameters will cause the request to fail."); or
either. The token carries the first call's query as sent and with its defaulted dates
resolved, signed so it cannot be altered. Dates accept the model's own examples: offset-less
date-times (``2024-07-01T00:00:00``) and plain dates are read as UTC.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import orjson

from spapi_emulator import errors
from spapi_emulator.config import ExportDateForm, FollowUp
from spapi_emulator.invoices.data import (
    BRAZIL_MARKETPLACE_ID,
    EXPORT_STATUSES,
    ExportRequest,
    InvoiceFilter,
)
from spapi_emulator.isotime import parse_iso8601
from spapi_emulator.paging import NextTokenCodec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from multidict import MultiMapping

MARKETPLACE_ID = "marketplaceId"
NEXT_TOKEN = "nextToken"  # noqa: S105 - a parameter name
INVALID_REQUEST = "Invalid Request."
UNPARSABLE = "Request has missing or invalid parameters and cannot be parsed."
NOT_FOUND = "The resource specified does not exist."
# An error message, not a secret.
NEXT_TOKEN_ALONE = "Specifying nextToken with any other parameters will cause the request to fail."  # noqa: S105
# The emulator's own wording under the model's reading: no public text exists.
SAME_ARGUMENTS = "Send the same arguments as the call that produced the nextToken."
# getInvoices pageSize: "Minimum: 1 Maximum: 200", but GetInvoicesResponse.invoices has
# maxItems 100: up to 200 is accepted and a page never holds more than 100 invoices.
INVOICES_MAX_PAGE_SIZE, INVOICES_MAX_ITEMS = 200, 100
EXPORTS_MAX_PAGE_SIZE = 100
# The model gives no pageSize default; these are the emulator's.
DEFAULT_PAGE_SIZE = 100
INVOICES_DEFAULT_RANGE = timedelta(hours=24)  # getInvoices / createInvoicesExport dateStart
EXPORTS_DEFAULT_RANGE = timedelta(days=30)  # getInvoicesExports dateStart
SORT_BY = "START_DATE_TIME"
SORT_ORDERS = ("ASC", "DESC")
FILE_FORMATS = ("XML",)

INVOICES_PARAMETERS = frozenset(
    {
        MARKETPLACE_ID,
        "transactionIdentifierName",
        "transactionIdentifierId",
        "pageSize",
        "dateStart",
        "dateEnd",
        "transactionType",
        "series",
        NEXT_TOKEN,
        "sortOrder",
        "sortBy",
        "invoiceType",
        "statuses",
        "externalInvoiceId",
    }
)
EXPORTS_PARAMETERS = frozenset(
    {MARKETPLACE_ID, "dateStart", "dateEnd", "pageSize", "status", NEXT_TOKEN}
)
EXPORT_REQUEST_ATTRIBUTES = frozenset(
    {
        MARKETPLACE_ID,
        "dateStart",
        "dateEnd",
        "externalInvoiceId",
        "fileFormat",
        "invoiceType",
        "series",
        "statuses",
        "transactionIdentifier",
        "transactionType",
    }
)
_DIGITS = re.compile(r"[0-9]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LOCAL_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?")
_LAST_MS = time(23, 59, 59, 999_000)


def invalid_request(details: str) -> errors.ApiError:
    """Return a 400 in the Invoices API's shape (code ``"400"``, "Invalid Request.")."""
    return errors.ApiError(400, "400", INVALID_REQUEST, details)


def unparsable_body(details: str) -> errors.ApiError:
    """Return createInvoicesExport's 400 for a bad body (wording of its sandbox example)."""
    return errors.ApiError(400, "400", UNPARSABLE, details)


def not_found(details: str) -> errors.ApiError:
    """Return a 404 in the Invoices API's shape."""
    return errors.ApiError(404, "404", NOT_FOUND, details)


def missing_parameter(name: str, *, colon: bool = True) -> errors.ApiError:
    """Return the sandbox's 400 for a missing parameter.

    The model's examples write ``Missing required parameter: 'marketplaceId'`` for query
    parameters of the list operations and ``Missing required parameter 'invoiceId'`` (no
    colon) for getInvoice, getInvoicesExport and getInvoicesDocument.

    Args:
        name: The parameter.
        colon: Use the colon form.

    Returns:
        The error.

    """
    separator = ":" if colon else ""
    return invalid_request(f"Missing required parameter{separator} '{name}'")


def parse_date(raw: str, *, end_of_day: bool = False) -> datetime | None:
    """Return an Invoices API date or date-time as an aware datetime, or None if invalid.

    Args:
        raw: ISO 8601 text: with an offset, without one (UTC), or a plain date.
        end_of_day: A plain date means its last millisecond instead of its midnight.

    Returns:
        The moment, or None.

    """
    if _DATE.fullmatch(raw):
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            return None
        return datetime.combine(day, _LAST_MS if end_of_day else time(), tzinfo=UTC)
    if _LOCAL_DATE_TIME.fullmatch(raw):
        raw += "Z"
    return parse_iso8601(raw)


def format_resolved(moment: datetime) -> str:
    """Return a moment as UTC ISO 8601 with microseconds (what tokens carry)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class PagePosition:
    """Where a paged request starts.

    Attributes:
        params: The first call's parameters, defaulted dates resolved.
        offset: Candidates already scanned by earlier pages.
        emptied: An empty page was already served at this offset.
        sent: The first call's parameters as sent (a follow-up page repeats them under the
            model's reading).

    """

    params: dict[str, str]
    offset: int = 0
    emptied: bool = False
    sent: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InvoicesQuery:
    """A validated getInvoices query.

    Attributes:
        marketplace_id: The marketplace.
        date_start: Earliest invoice date, inclusive.
        date_end: Latest invoice date, inclusive.
        invoice_filter: Attribute filters.
        descending: sortOrder=DESC.
        page_size: Candidates scanned per page (at most 100).
        params: The parameters with resolved dates, for the nextToken.

    """

    marketplace_id: str
    date_start: datetime
    date_end: datetime
    invoice_filter: InvoiceFilter
    descending: bool
    page_size: int
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class ExportsQuery:
    """A validated getInvoicesExports query.

    Attributes:
        marketplace_id: The marketplace.
        date_start: Earliest creation time, inclusive.
        date_end: Latest creation time, inclusive.
        status: Only exports in this status.
        page_size: Candidates scanned per page.
        params: The parameters with resolved dates, for the nextToken.

    """

    marketplace_id: str
    date_start: datetime
    date_end: datetime
    status: str | None
    page_size: int
    params: dict[str, str]


def single_values(query: MultiMapping[str], allowed: Iterable[str]) -> dict[str, str]:
    """Return the query as a dict, refusing repeated and undeclared parameters.

    Args:
        query: The request's query parameters.
        allowed: The parameters the operation declares.

    Returns:
        name -> value.

    Raises:
        ApiError: 400 for a repeated or unknown parameter.

    """
    known = frozenset(allowed)
    for name in query:
        if name not in known:
            raise invalid_request(f"Unknown parameter: '{name}'.")
        if len(query.getall(name)) > 1:
            raise invalid_request(
                f"Parameter '{name}' must not be repeated; send lists comma-separated."
            )
    return {name: query[name] for name in query}


def require_marketplace(marketplace_id: str | None, *, colon: bool = True) -> str:
    """Return the marketplaceId if present and served here.

    Raises:
        ApiError: 400 when it is missing or not Brazil.

    """
    if not marketplace_id:
        raise missing_parameter(MARKETPLACE_ID, colon=colon)
    if marketplace_id != BRAZIL_MARKETPLACE_ID:
        raise invalid_request(
            f"Invalid marketplaceId: '{marketplace_id}'. "
            f"The Invoices API serves {BRAZIL_MARKETPLACE_ID} (Brazil) only."
        )
    return marketplace_id


class PageTokens:
    """nextTokens that carry the whole first-call query, signed and expiring (paging.py)."""

    def __init__(self, clock: Callable[[], float], key: bytes | None = None) -> None:
        """Create the tokens of one server.

        Args:
            clock: Monotonic clock in seconds (issue time, expiry).
            key: HMAC key; random per server when None.

        """
        self._codec = NextTokenCodec(clock, key)

    def encode(self, operation: str, position: PagePosition) -> str:
        """Return the nextToken of a position in an operation's result list."""
        payload = orjson.dumps(
            {
                "params": position.params,
                "offset": position.offset,
                "emptied": position.emptied,
                "sent": position.sent,
            },
            option=orjson.OPT_SORT_KEYS,
        )
        return self._codec.encode(payload, operation.encode())

    def decode(self, operation: str, token: str, ttl: float | None) -> PagePosition | None:
        """Return the position a token points to, or None if invalid, foreign or expired.

        Args:
            operation: The operation the token is presented to.
            token: The nextToken, URL-decoded.
            ttl: Seconds a token lives; None: forever.

        Returns:
            The position, or None.

        """
        payload = self._codec.decode(token, operation.encode(), ttl)
        if payload is None:
            return None
        fields = orjson.loads(payload)
        params, offset, emptied = fields["params"], fields["offset"], fields["emptied"]
        sent = fields.get("sent") or {}
        if not isinstance(params, dict):  # pragma: no cover - signed by this server
            return None
        return PagePosition(
            {str(k): str(v) for k, v in params.items()},
            int(offset),
            bool(emptied),
            {str(k): str(v) for k, v in sent.items()},
        )


def page_position(  # noqa: PLR0913 - the request, the codec and the two readings in play
    query: MultiMapping[str],
    operation: str,
    allowed: Iterable[str],
    tokens: PageTokens,
    ttl: float | None,
    *,
    follow_up: FollowUp = FollowUp.ALL_ARGUMENTS,
    refusal: str = errors.NEXT_TOKEN_INVALID,
) -> PagePosition:
    """Validate the paging side of a list request and return where it starts.

    Order: marketplaceId present; under the sandbox's reading, a nextToken comes alone (with
    marketplaceId); repeated or unknown parameters; the marketplace; the token; under the
    model's reading, the arguments next to the token are those of the first call.

    Args:
        query: The request's query parameters.
        operation: getInvoices or getInvoicesExports.
        allowed: The parameters the operation declares.
        tokens: The nextToken codec.
        ttl: nextToken lifetime (``next_token_ttl``).
        follow_up: ``EmulatorConfig.invoices_follow_up``.
        refusal: The wording of a refused nextToken.

    Returns:
        The first call's parameters and the offset.

    Raises:
        ApiError: 400 in the Invoices API's shape.

    """
    marketplace_id = query.get(MARKETPLACE_ID)
    if not marketplace_id:
        raise missing_parameter(MARKETPLACE_ID)
    others = {name for name in query if name not in {MARKETPLACE_ID, NEXT_TOKEN}}
    if NEXT_TOKEN in query and others and follow_up is FollowUp.TOKEN_ONLY:
        raise invalid_request(NEXT_TOKEN_ALONE)
    params = single_values(query, allowed)
    require_marketplace(marketplace_id)
    token = params.pop(NEXT_TOKEN, None)
    if token is None:
        return PagePosition(params, sent=dict(params))
    position = tokens.decode(operation, token, ttl)
    if position is None or position.params.get(MARKETPLACE_ID) != marketplace_id:
        raise invalid_request(refusal)
    repeats = follow_up is FollowUp.ALL_ARGUMENTS or (follow_up is FollowUp.EITHER and others)
    if repeats and params != position.sent:
        raise invalid_request(SAME_ARGUMENTS)
    return position


def _date_range(
    params: Mapping[str, str],
    now: datetime,
    default_range: timedelta,
    error: Callable[[str], errors.ApiError] = invalid_request,
) -> tuple[datetime, datetime, dict[str, str]]:
    """Return (dateStart, dateEnd, params with both resolved); ``error`` builds the 400s."""
    moments: dict[str, datetime] = {}
    for name in ("dateStart", "dateEnd"):
        raw = params.get(name)
        if raw is None:
            continue
        moment = parse_date(raw, end_of_day=name == "dateEnd")
        if moment is None:
            raise error(f"Invalid {name}: '{raw}'. Use ISO 8601, e.g. 2024-07-01T00:00:00.000Z.")
        moments[name] = moment
    date_end = moments.get("dateEnd", now)
    date_start = moments.get("dateStart", min(now, date_end) - default_range)
    if date_start > date_end:
        raise error("Invalid date range: dateStart must not be after dateEnd.")
    resolved = {**params, "dateStart": format_resolved(date_start)}
    resolved["dateEnd"] = format_resolved(date_end)
    return date_start, date_end, resolved


def _page_size(params: Mapping[str, str], maximum: int) -> int:
    raw = params.get("pageSize")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if _DIGITS.fullmatch(raw) is None or not 1 <= int(raw) <= maximum:
        raise invalid_request(
            f"Invalid pageSize: '{raw}'. It must be an integer from 1 to {maximum}."
        )
    return int(raw)


def _statuses(raw: str | None) -> frozenset[str] | None:
    if raw is None:
        return None
    values = [value.strip() for value in raw.split(",")]
    if not all(values):
        raise invalid_request(
            f"Invalid statuses: '{raw}'. Send at least one status, comma-separated."
        )
    return frozenset(values)


def parse_invoices_query(params: Mapping[str, str], now: datetime) -> InvoicesQuery:
    """Validate getInvoices parameters (those of the first call, or a token's).

    Args:
        params: Single-valued parameters without nextToken.
        now: The wall clock; dateStart defaults to 24 h before it, dateEnd to it.

    Returns:
        The query.

    Raises:
        ApiError: 400 in the Invoices API's shape.

    """
    marketplace_id = require_marketplace(params.get(MARKETPLACE_ID))
    date_start, date_end, resolved = _date_range(params, now, INVOICES_DEFAULT_RANGE)
    page_size = _page_size(params, INVOICES_MAX_PAGE_SIZE)
    sort_by = params.get("sortBy", SORT_BY)
    if sort_by != SORT_BY:
        raise invalid_request(f"Invalid sortBy: '{sort_by}'. It must be {SORT_BY}.")
    sort_order = params.get("sortOrder", "ASC")
    if sort_order not in SORT_ORDERS:
        raise invalid_request(f"Invalid sortOrder: '{sort_order}'. It must be ASC or DESC.")
    name, value = params.get("transactionIdentifierName"), params.get("transactionIdentifierId")
    if (name is None) != (value is None):
        raise invalid_request(
            "transactionIdentifierName and transactionIdentifierId must be provided together."
        )
    invoice_filter = InvoiceFilter(
        statuses=_statuses(params.get("statuses")),
        invoice_type=params.get("invoiceType"),
        series=params.get("series"),
        transaction_type=params.get("transactionType"),
        external_invoice_id=params.get("externalInvoiceId"),
        transaction_identifier=None if name is None or value is None else (name, value),
    )
    return InvoicesQuery(
        marketplace_id=marketplace_id,
        date_start=date_start,
        date_end=date_end,
        invoice_filter=invoice_filter,
        descending=sort_order == "DESC",
        page_size=min(page_size, INVOICES_MAX_ITEMS),
        params=resolved,
    )


def parse_exports_query(params: Mapping[str, str], now: datetime) -> ExportsQuery:
    """Validate getInvoicesExports parameters (those of the first call, or a token's).

    Args:
        params: Single-valued parameters without nextToken.
        now: The wall clock; dateStart defaults to 30 days before it, dateEnd to it.

    Returns:
        The query.

    Raises:
        ApiError: 400 in the Invoices API's shape.

    """
    marketplace_id = require_marketplace(params.get(MARKETPLACE_ID))
    date_start, date_end, resolved = _date_range(params, now, EXPORTS_DEFAULT_RANGE)
    page_size = _page_size(params, EXPORTS_MAX_PAGE_SIZE)
    status = params.get("status")
    if status is not None and status not in EXPORT_STATUSES:
        raise invalid_request(
            f"Invalid status: '{status}'. It must be one of {', '.join(EXPORT_STATUSES)}."
        )
    return ExportsQuery(
        marketplace_id=marketplace_id,
        date_start=date_start,
        date_end=date_end,
        status=status,
        page_size=page_size,
        params=resolved,
    )


def _optional_text(body: Mapping[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise unparsable_body(f"Invalid attribute '{name}': expected a string.")
    return value


def _export_statuses(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item for item in value)
    ):
        raise unparsable_body("Invalid attribute 'statuses': expected a non-empty string list.")
    return frozenset(str(item) for item in value)


def _export_identifier(value: object) -> tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        name, identifier = value.get("name"), value.get("id")
        if isinstance(name, str) and isinstance(identifier, str) and name and identifier:
            return name, identifier
    raise unparsable_body("Invalid attribute 'transactionIdentifier': expected {name, id}.")


def _check_export_date_form(dates: Mapping[str, str | None], form: ExportDateForm) -> None:
    """Refuse dateStart/dateEnd texts outside the accepted form (``export_date_form``)."""
    for name, raw in dates.items():
        if raw is None:
            continue
        zoned = parse_date(raw) is not None and not _DATE.fullmatch(raw)
        zoned = zoned and not _LOCAL_DATE_TIME.fullmatch(raw)
        if (form is ExportDateForm.NO_ZONE and zoned) or (
            form is ExportDateForm.WITH_ZONE and not zoned
        ):
            example = (
                "2024-07-01T00:00:00" if form is ExportDateForm.NO_ZONE else "2024-07-01T00:00:00Z"
            )
            raise unparsable_body(f"Invalid {name}: '{raw}'. Use the form {example}.")


def parse_export_request(
    raw: bytes, now: datetime, date_form: ExportDateForm = ExportDateForm.ANY
) -> ExportRequest:
    """Validate a createInvoicesExport body (``ExportInvoicesRequest``).

    Args:
        raw: The request body.
        now: The wall clock; dateStart defaults to 24 h before it, dateEnd to it.
        date_form: ``EmulatorConfig.export_date_form``.

    Returns:
        The request.

    Raises:
        ApiError: 400 "Request has missing or invalid parameters and cannot be parsed."

    """
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise unparsable_body("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise unparsable_body("The request body must be a JSON object.")
    marketplace_id = body.get(MARKETPLACE_ID)
    if not isinstance(marketplace_id, str) or not marketplace_id:
        raise unparsable_body("Missing required attribute(s): 'marketplaceId'.")
    unknown = sorted(name for name in body if name not in EXPORT_REQUEST_ATTRIBUTES)
    if unknown:
        raise unparsable_body(f"Unknown attribute(s): {', '.join(map(repr, unknown))}.")
    require_marketplace(marketplace_id)
    file_format = body.get("fileFormat", "XML")
    if file_format not in FILE_FORMATS:
        raise unparsable_body(f"Invalid fileFormat: '{file_format}'. It must be XML.")
    dates = {name: _optional_text(body, name) for name in ("dateStart", "dateEnd")}
    _check_export_date_form(dates, date_form)
    date_start, date_end, _ = _date_range(
        {k: v for k, v in dates.items() if v is not None},
        now,
        INVOICES_DEFAULT_RANGE,
        unparsable_body,
    )
    invoice_filter = InvoiceFilter(
        statuses=_export_statuses(body.get("statuses")),
        invoice_type=_optional_text(body, "invoiceType"),
        series=_optional_text(body, "series"),
        transaction_type=_optional_text(body, "transactionType"),
        external_invoice_id=_optional_text(body, "externalInvoiceId"),
        transaction_identifier=_export_identifier(body.get("transactionIdentifier")),
    )
    return ExportRequest(marketplace_id, date_start, date_end, invoice_filter)


def empty_page(
    seed: int, operation: str, params: Mapping[str, str], offset: int, rate: float
) -> bool:
    """Decide, reproducibly, whether the page at ``offset`` of a query comes back empty.

    Args:
        seed: Dataset seed.
        operation: The operationId.
        params: The query's resolved parameters.
        offset: The page's position.
        rate: ``invoices_empty_page_rate``.

    Returns:
        True for an empty page with a nextToken to the same position.

    """
    if rate <= 0:
        return False
    canonical = "&".join(f"{k}={params[k]}" for k in sorted(params))
    digest = hashlib.sha256(f"{seed}:{operation}:{canonical}:{offset}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate
