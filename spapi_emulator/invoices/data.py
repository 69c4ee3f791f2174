"""Invoices API 2024-06-19 dataset: Brazilian NF-e invoices and the daily export history.

Like the Direct Fulfillment dataset, a pure function of the config's seed and dataset fields:
for each dataset day, ``invoices_api_per_day`` invoices (the getInvoices ``Invoice`` object)
with millisecond dates spread over the day, and one export created during the day that covers
the day's invoices. Tests compute what a sync must emit from here; the routes answer from here.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from spapi_emulator.isotime import from_micros, to_micros

if TYPE_CHECKING:
    from collections.abc import Sequence

    from spapi_emulator.config import EmulatorConfig

# The only marketplace the Invoices API serves: Brazil (NA endpoint), as in every sandbox example.
BRAZIL_MARKETPLACE_ID = "A2Q3Y263D00KWC"
# ExportStatus values.
REQUESTED, PROCESSING, DONE, ERROR = "REQUESTED", "PROCESSING", "DONE", "ERROR"
EXPORT_STATUSES = (REQUESTED, PROCESSING, DONE, ERROR)

# getInvoicesAttributes vocabulary: value -> description. The statuses are the static
# sandbox's; the other lists are this emulator's (the sandbox leaves them empty).
INVOICE_STATUSES: dict[str, str] = {
    "AUTHORIZED": "The government authorized the invoice.",
    "REJECTED": "The government rejected the invoice.",
    "CANCELED": "The invoice is canceled.",
}
INVOICE_TYPES: dict[str, str] = {
    "CUSTOMER_SALES": "Sale of goods to a customer.",
    "SYMBOLIC_RETURN": "Symbolic return of goods sold from a fulfillment center.",
    "CUSTOMER_RETURN": "Return of goods by a customer.",
    "SYMBOLIC_REMITTANCE": "Symbolic remittance of goods to a fulfillment center.",
}
TRANSACTION_TYPES: dict[str, str] = {
    "CUSTOMER_SALES": "A customer order.",
    "CUSTOMER_SALES_SYMBOLIC": "The symbolic movement of a customer order.",
    "CUSTOMER_RETURNS": "A customer return.",
    "INBOUND_SHIPMENT": "A seller's inbound shipment to a fulfillment center.",
}
TRANSACTION_IDENTIFIER_NAMES: dict[str, str] = {
    "BUSINESS_TRANSACTION_ID": "The identifier of the business transaction.",
    "ORDER_ID": "The Amazon order identifier.",
    "SHIPMENT_ID": "The inbound shipment identifier.",
}

# (invoiceType, transactionType, weight): the pairs the dataset draws from.
_KINDS: tuple[tuple[str, str, int], ...] = (
    ("CUSTOMER_SALES", "CUSTOMER_SALES", 70),
    ("SYMBOLIC_RETURN", "CUSTOMER_SALES", 8),
    ("CUSTOMER_SALES", "CUSTOMER_SALES_SYMBOLIC", 8),
    ("CUSTOMER_RETURN", "CUSTOMER_RETURNS", 8),
    ("SYMBOLIC_REMITTANCE", "INBOUND_SHIPMENT", 6),
)
_STATUS_WEIGHTS = {"AUTHORIZED": 88, "REJECTED": 6, "CANCELED": 6}
_SERIES_WEIGHTS = {"1": 60, "2": 30, "32": 10}
_KIND_CUMULATIVE = tuple(itertools.accumulate(kind[2] for kind in _KINDS))
_STATUSES, _STATUS_CUMULATIVE = (
    tuple(_STATUS_WEIGHTS),
    tuple(itertools.accumulate(_STATUS_WEIGHTS.values())),
)
_SERIES, _SERIES_CUMULATIVE = (
    tuple(_SERIES_WEIGHTS),
    tuple(itertools.accumulate(_SERIES_WEIGHTS.values())),
)
# UUID version 4 and RFC 4122 variant bits.
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)
# Sefaz rejection codes (NF-e "Manual de Orientação do Contribuinte") for REJECTED invoices.
REJECTIONS: tuple[tuple[str, str], ...] = (
    ("539", "Rejeição: Duplicidade de NF-e, com diferença na Chave de Acesso"),
    ("225", "Rejeição: Falha no Schema XML da NFe"),
    ("778", "Rejeição: Informado NCM inexistente"),
)
EXPORT_ERRORS: tuple[str, ...] = (
    "Export generation failed due to an internal error. Create a new export.",
    "Export generation timed out. Use a shorter date interval and create a new export.",
)
_FIRST_INVOICE_NUMBER = 100_000
_MS_PER_DAY = 86_400_000
_US_PER_MS = 1000
# Pre-existing exports are created between 00:10 and 23:00 of their day.
_EXPORT_CREATED_MS = (600_000, 82_800_000)
_EXPORT_START_DELAY_MS = (2_000, 120_000)
_EXPORT_DURATION_MS = (30_000, 900_000)


@dataclass(frozen=True, slots=True)
class TransactionId:
    """One ``transactionIds`` entry of an invoice.

    Attributes:
        name: Identifier name (``transactionIdentifierNameOptions``).
        id: Identifier value.

    """

    name: str
    id: str


@dataclass(frozen=True, slots=True)
class TaxInvoice:
    """One Invoices API invoice, the model's ``Invoice`` object.

    Attributes:
        id: Invoice identifier (UUID text); the export ZIP names its XML ``<id>.xml``.
        date: Aware UTC issue date, millisecond resolution.
        error_code: Sefaz error code of a REJECTED invoice, else ``""``.
        external_invoice_id: The NF-e number, sequential per series.
        gov_response: Sefaz message of a REJECTED invoice, else ``""``.
        invoice_type: One of ``INVOICE_TYPES``.
        series: NF-e series.
        status: One of ``INVOICE_STATUSES``.
        transaction_ids: The transactions the invoice belongs to.
        transaction_type: One of ``TRANSACTION_TYPES``.

    """

    id: str
    date: datetime
    error_code: str
    external_invoice_id: str
    gov_response: str
    invoice_type: str
    series: str
    status: str
    transaction_ids: tuple[TransactionId, ...]
    transaction_type: str

    def to_json(self) -> dict[str, object]:
        """Return the invoice as getInvoices and getInvoice send it (keys in model order)."""
        return {
            "date": format_ms(self.date),
            "errorCode": self.error_code,
            "externalInvoiceId": self.external_invoice_id,
            "govResponse": self.gov_response,
            "id": self.id,
            "invoiceType": self.invoice_type,
            "series": self.series,
            "status": self.status,
            "transactionIds": [{"name": t.name, "id": t.id} for t in self.transaction_ids],
            "transactionType": self.transaction_type,
        }


@dataclass(frozen=True, slots=True)
class InvoiceFilter:
    """The attribute filters of getInvoices and createInvoicesExport; None matches anything.

    Attributes:
        statuses: Any of these statuses.
        invoice_type: Exactly this invoiceType.
        series: Exactly this series.
        transaction_type: Exactly this transactionType.
        external_invoice_id: Exactly this externalInvoiceId.
        transaction_identifier: (name, id) of one of the invoice's transactionIds.

    """

    statuses: frozenset[str] | None = None
    invoice_type: str | None = None
    series: str | None = None
    transaction_type: str | None = None
    external_invoice_id: str | None = None
    transaction_identifier: tuple[str, str] | None = None

    def matches(self, invoice: TaxInvoice) -> bool:
        """Return True if the invoice passes every given filter.

        Args:
            invoice: The invoice.

        Returns:
            Whether it matches.

        """
        exact = (
            (self.invoice_type, invoice.invoice_type),
            (self.series, invoice.series),
            (self.transaction_type, invoice.transaction_type),
            (self.external_invoice_id, invoice.external_invoice_id),
        )
        if any(wanted is not None and wanted != actual for wanted, actual in exact):
            return False
        if self.statuses is not None and invoice.status not in self.statuses:
            return False
        if self.transaction_identifier is not None:
            name, value = self.transaction_identifier
            return any(t.name == name and t.id == value for t in invoice.transaction_ids)
        return True


NO_FILTER = InvoiceFilter()


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """A validated createInvoicesExport body (``ExportInvoicesRequest``).

    Attributes:
        marketplace_id: The marketplace.
        date_start: Earliest invoice date, inclusive.
        date_end: Latest invoice date, inclusive.
        invoice_filter: The attribute filters.

    """

    marketplace_id: str
    date_start: datetime
    date_end: datetime
    invoice_filter: InvoiceFilter = NO_FILTER


@dataclass(frozen=True, slots=True)
class HistoryExport:
    """A pre-existing export: created during its day, covering that day's invoices.

    Attributes:
        export_id: Export identifier (UUID text).
        day: Dataset day index.
        created_at: Creation time (getInvoicesExports filters on it).
        started_at: ``generateExportStartedAt``.
        finished_at: ``generateExportFinishedAt``.
        outcome: ``DONE``, ``ERROR``, ``REQUESTED`` or ``PROCESSING`` (the last two: still
            pending at server start, DONE later).
        error_message: ``errorMessage`` of an ERROR export, else ``""``.
        date_start: First moment covered (midnight of the day).
        date_end: Last moment covered (23:59:59.999 of the day).

    """

    export_id: str
    day: int
    created_at: datetime
    started_at: datetime
    finished_at: datetime
    outcome: str
    error_message: str
    date_start: datetime
    date_end: datetime


class InvoicesData:
    """The seeded Invoices API invoices (sorted by date, id) and the export history."""

    def __init__(self, config: EmulatorConfig) -> None:
        """Generate invoices and history from the config's dataset fields.

        Args:
            config: The emulator config; its dataset fields are read once.

        """
        self.seed = config.seed
        self.start = config.dataset_start.astimezone(UTC)
        self.days = config.days
        counters = dict.fromkeys(_SERIES_WEIGHTS, _FIRST_INVOICE_NUMBER)
        invoices: list[TaxInvoice] = []
        for day in range(config.days):
            invoices.extend(self._day_invoices(day, config.invoices_api_per_day, counters))
        invoices.sort(key=lambda invoice: (invoice.date, invoice.id))
        self.invoices: Sequence[TaxInvoice] = tuple(invoices)
        self._keys = [to_micros(invoice.date) for invoice in invoices]
        self._by_id = {invoice.id: invoice for invoice in invoices}
        self.history: tuple[HistoryExport, ...] = tuple(
            self._history_export(day, config) for day in range(config.days)
        )

    def __len__(self) -> int:
        """Return the number of invoices."""
        return len(self.invoices)

    def invoice(self, invoice_id: str) -> TaxInvoice | None:
        """Return the invoice with this id, or None."""
        return self._by_id.get(invoice_id)

    def span(self, date_start: datetime, date_end: datetime) -> tuple[int, int]:
        """Return the index range of the invoices dated in ``[date_start, date_end]``.

        Args:
            date_start: Earliest date, inclusive (aware).
            date_end: Latest date, inclusive (aware).

        Returns:
            (lo, hi) into ``invoices``; empty when hi <= lo.

        """
        lo = bisect.bisect_left(self._keys, to_micros(date_start))
        hi = bisect.bisect_right(self._keys, to_micros(date_end))
        return lo, max(lo, hi)

    def select(
        self,
        date_start: datetime,
        date_end: datetime,
        invoice_filter: InvoiceFilter = NO_FILTER,
        *,
        descending: bool = False,
    ) -> list[TaxInvoice]:
        """Return the invoices dated in ``[date_start, date_end]`` that pass the filter.

        Args:
            date_start: Earliest date, inclusive.
            date_end: Latest date, inclusive.
            invoice_filter: Attribute filters.
            descending: Newest first.

        Returns:
            The invoices sorted by (date, id), or reversed.

        """
        lo, hi = self.span(date_start, date_end)
        found = [inv for inv in self.invoices[lo:hi] if invoice_filter.matches(inv)]
        return found[::-1] if descending else found

    def day_bounds(self, day: int) -> tuple[datetime, datetime]:
        """Return the first and last millisecond of a dataset day."""
        first = self.start + timedelta(days=day)
        return first, first + timedelta(milliseconds=_MS_PER_DAY - 1)

    def _day_invoices(self, day: int, count: int, counters: dict[str, int]) -> list[TaxInvoice]:
        # Not security relevant: reproducible invoices.
        rng = random.Random(f"{self.seed}:invoices-api:{day}")  # noqa: S311
        day_us = to_micros(self.start) + day * _MS_PER_DAY * _US_PER_MS
        offsets = sorted(rng.randrange(_MS_PER_DAY) for _ in range(count))
        found: list[TaxInvoice] = []
        for offset in offsets:
            invoice_type, transaction_type, _ = _pick(rng, _KINDS, _KIND_CUMULATIVE)
            status = _pick(rng, _STATUSES, _STATUS_CUMULATIVE)
            series = _pick(rng, _SERIES, _SERIES_CUMULATIVE)
            counters[series] += 1
            error_code, gov_response = "", ""
            if status == "REJECTED":
                error_code, message = rng.choice(REJECTIONS)
                gov_response = f"{error_code} - {message}"
            found.append(
                TaxInvoice(
                    id=_uuid(rng),
                    date=from_micros(day_us + offset * _US_PER_MS),
                    error_code=error_code,
                    external_invoice_id=str(counters[series]),
                    gov_response=gov_response,
                    invoice_type=invoice_type,
                    series=series,
                    status=status,
                    transaction_ids=_transaction_ids(rng, transaction_type),
                    transaction_type=transaction_type,
                )
            )
        return found

    def _history_export(self, day: int, config: EmulatorConfig) -> HistoryExport:
        # Not security relevant: reproducible export history.
        rng = random.Random(f"{self.seed}:invoices-export:{day}")  # noqa: S311
        date_start, date_end = self.day_bounds(day)
        created = date_start + timedelta(milliseconds=rng.randrange(*_EXPORT_CREATED_MS))
        started = created + timedelta(milliseconds=rng.randrange(*_EXPORT_START_DELAY_MS))
        finished = started + timedelta(milliseconds=rng.randrange(*_EXPORT_DURATION_MS))
        failed = rng.random() < config.export_history_error_rate
        pending = config.days - day
        if pending == 1 and config.export_history_pending >= 1:
            outcome = REQUESTED
        elif pending <= config.export_history_pending:
            outcome = PROCESSING
        else:
            outcome = ERROR if failed else DONE
        return HistoryExport(
            export_id=_uuid(rng),
            day=day,
            created_at=created,
            started_at=started,
            finished_at=finished,
            outcome=outcome,
            error_message=rng.choice(EXPORT_ERRORS) if outcome == ERROR else "",
            date_start=date_start,
            date_end=date_end,
        )


def format_ms(moment: datetime) -> str:
    """Return an aware datetime as ``yyyy-MM-ddTHH:mm:ss.sssZ`` (the Invoices API's form)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def seeded_uuid(*parts: object) -> str:
    """Return a UUID-4-shaped id that is a pure function of ``parts`` (seed first).

    Args:
        *parts: What identifies the object, e.g. (seed, "export", 3).

    Returns:
        Lower-case UUID text.

    """
    # Not security relevant: reproducible identifiers.
    return _uuid(random.Random(":".join(map(str, parts))))  # noqa: S311


def _uuid(rng: random.Random) -> str:
    """Return random UUID-4 text (the ``uuid`` module's layout, built faster)."""
    value = f"{rng.getrandbits(128) & _UUID_CLEAR | _UUID_SET:032x}"
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


_T = TypeVar("_T")


def _pick(rng: random.Random, values: Sequence[_T], cumulative: Sequence[int]) -> _T:
    """Return one of ``values`` drawn by their weights (``cumulative`` sums them up)."""
    return values[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def _transaction_ids(rng: random.Random, transaction_type: str) -> tuple[TransactionId, ...]:
    business = TransactionId("BUSINESS_TRANSACTION_ID", _uuid(rng))
    if transaction_type == "INBOUND_SHIPMENT":
        shipment = "FBA" + "".join(rng.choices("0123456789BCDFGHJKLMNPQRSTVWXZ", k=9))
        return business, TransactionId("SHIPMENT_ID", shipment)
    order = f"70{rng.randrange(10)}-{rng.randrange(10**7):07d}-{rng.randrange(10**7):07d}"
    return business, TransactionId("ORDER_ID", order)
