"""Invoices API live state: exports and their lifecycle, documents, and the test helpers.

An export moves REQUESTED -> PROCESSING -> DONE (or ERROR) on the monotonic clock: it stays
REQUESTED ``export_queue_seconds / time_scale`` seconds, then PROCESSING
``export_processing_seconds / time_scale`` seconds; the schedule is fixed when the export is
created. The pre-existing history (one export per dataset day) is finished, except the
``export_history_pending`` most recent ones, which run the same schedule from server start.
Documents hold at most ``invoices_per_document`` invoices each and become downloadable when
their export is DONE.
"""

from __future__ import annotations

import bisect
import math
import random
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from spapi_emulator.config import DocumentBody, DocumentShape, LiveConfig
from spapi_emulator.families import Family
from spapi_emulator.invoices.data import (
    DONE,
    ERROR,
    EXPORT_ERRORS,
    NO_FILTER,
    PROCESSING,
    REQUESTED,
    InvoiceFilter,
    InvoicesData,
    TaxInvoice,
    format_ms,
    seeded_uuid,
)
from spapi_emulator.invoices.downloads import PresignedUrls, zip_chunks
from spapi_emulator.invoices.hostile_documents import endless_body, shaped_zip
from spapi_emulator.invoices.nfe import cancellation_xml, nfe_xml
from spapi_emulator.invoices.query import PageTokens
from spapi_emulator.invoices.sandbox import SANDBOX_DOCUMENT_ID, SANDBOX_INVOICE
from spapi_emulator.isotime import to_micros

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from spapi_emulator.config import EmulatorConfig
    from spapi_emulator.families import FamilyInputs
    from spapi_emulator.invoices.data import ExportRequest, HistoryExport

_ALREADY = -math.inf


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """An export and its fixed schedule.

    Attributes:
        export_id: Export identifier.
        seq: Creation order (history first), the tie-breaker of equal creation times.
        created_at: Creation time (getInvoicesExports filters on it), millisecond resolution.
        started_at: ``generateExportStartedAt`` once PROCESSING.
        finished_at: ``generateExportFinishedAt`` once DONE or ERROR.
        processing_at: Monotonic clock reading at which it turns PROCESSING.
        done_at: Monotonic clock reading at which it turns DONE or ERROR.
        fails: Ends in ERROR instead of DONE.
        error_message: ``errorMessage`` once ERROR.
        document_ids: ``invoicesDocumentIds`` once DONE.
        date_start: Earliest invoice date covered.
        date_end: Latest invoice date covered.

    """

    export_id: str
    seq: int
    created_at: datetime
    started_at: datetime
    finished_at: datetime
    processing_at: float
    done_at: float
    fails: bool
    error_message: str
    document_ids: tuple[str, ...]
    date_start: datetime
    date_end: datetime

    def status(self, now: float) -> str:
        """Return the status at a monotonic clock reading."""
        if now < self.processing_at:
            return REQUESTED
        if now < self.done_at:
            return PROCESSING
        return ERROR if self.fails else DONE


@dataclass(frozen=True, slots=True)
class ExportView:
    """An export as the API shows it at one moment.

    Attributes:
        export_id: Export identifier.
        status: REQUESTED, PROCESSING, DONE or ERROR.
        created_at: Creation time (not part of the API's ``Export``).
        started_at: ``generateExportStartedAt``; None while REQUESTED.
        finished_at: ``generateExportFinishedAt``; None until DONE or ERROR.
        document_ids: ``invoicesDocumentIds``; empty unless DONE.
        error_message: ``errorMessage``; None unless ERROR.

    """

    export_id: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    document_ids: tuple[str, ...]
    error_message: str | None

    @classmethod
    def of(cls, record: ExportRecord, now: float) -> ExportView:
        """Return the view of a record at a monotonic clock reading."""
        status = record.status(now)
        return cls(
            export_id=record.export_id,
            status=status,
            created_at=record.created_at,
            started_at=None if status == REQUESTED else record.started_at,
            finished_at=record.finished_at if status in {DONE, ERROR} else None,
            document_ids=record.document_ids if status == DONE else (),
            error_message=record.error_message if status == ERROR else None,
        )

    def to_json(self) -> dict[str, object]:
        """Return the model's ``Export``: only the fields the current status has."""
        body: dict[str, object] = {"exportId": self.export_id, "status": self.status}
        if self.started_at is not None:
            body["generateExportStartedAt"] = format_ms(self.started_at)
        if self.finished_at is not None:
            body["generateExportFinishedAt"] = format_ms(self.finished_at)
        if self.status == DONE:
            body["invoicesDocumentIds"] = list(self.document_ids)
        if self.error_message is not None:
            body["errorMessage"] = self.error_message
        return body


@dataclass(frozen=True, slots=True)
class _Document:
    export_id: str | None  # None: the static sandbox example's document
    invoices: tuple[TaxInvoice, ...]


class InvoicesApi:
    """The Invoices API's data and live state, with the helpers tests compute expectations from.

    Thread-safe: the server thread creates exports while a test thread reads them.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
        live: LiveConfig | None = None,
    ) -> None:
        """Build the dataset and the export history.

        Args:
            config: The emulator config whose dataset fields are read once, now.
            clock: Monotonic clock in seconds (export schedules, URL expiry).
            wall_clock: Returns the current aware datetime (creation times, defaults).
            live: The config read per request (schedules, error dice, document bodies);
                ``config``, unchanging, when None.

        """
        self._live = live if live is not None else LiveConfig(config)
        self.clock = clock
        self.wall_clock = wall_clock
        self.data = InvoicesData(config)
        self.urls = PresignedUrls(clock, wall_clock)
        self.page_tokens = PageTokens(clock)
        self._xml_bytes = config.nfe_xml_bytes
        self._per_document = config.invoices_per_document
        self._lock = threading.Lock()
        self._keys: list[tuple[int, int]] = []
        self._records: list[ExportRecord] = []
        self._by_id: dict[str, ExportRecord] = {}
        self._documents: dict[str, _Document] = {
            SANDBOX_DOCUMENT_ID: _Document(None, (SANDBOX_INVOICE,)),
        }
        self._created = 0
        self._downloads: dict[str, int] = {}  # per document id, for truncated-once
        now = clock()
        for history in self.data.history:
            self._add(self._history_record(history, now))

    @property
    def config(self) -> EmulatorConfig:
        """The config in force now (``live``)."""
        return self._live.current

    # -- invoices --------------------------------------------------------------------------

    def invoices(
        self,
        date_start: datetime,
        date_end: datetime,
        invoice_filter: InvoiceFilter = NO_FILTER,
        *,
        descending: bool = False,
    ) -> list[TaxInvoice]:
        """Return what a complete getInvoices sync of ``[date_start, date_end]`` yields.

        Args:
            date_start: dateStart, inclusive.
            date_end: dateEnd, inclusive.
            invoice_filter: The attribute filters of the query.
            descending: sortOrder=DESC.

        Returns:
            The invoices in page order (by date, then id).

        """
        return self.data.select(date_start, date_end, invoice_filter, descending=descending)

    def invoice(self, invoice_id: str) -> TaxInvoice | None:
        """Return the invoice with this id (getInvoice), or None."""
        return self.data.invoice(invoice_id)

    def nfe_xml(self, invoice: TaxInvoice) -> bytes:
        """Return the invoice's NF-e XML as the export documents hold it.

        With ``nfe_malformed_rate``, a share of the files (drawn per invoice) is cut short.
        """
        xml = nfe_xml(invoice, seed=self.data.seed, size=self._xml_bytes)
        if self.nfe_malformed(invoice):
            return xml[: len(xml) * 3 // 5]
        return xml

    def nfe_malformed(self, invoice: TaxInvoice) -> bool:
        """Return True if the invoice's NF-e file is cut short (``nfe_malformed_rate``)."""
        rate = self.config.nfe_malformed_rate
        # Not security relevant: reproducible faults.
        dice = random.Random(f"{self.data.seed}:malformed:{invoice.id}")  # noqa: S311
        return rate > 0 and dice.random() < rate

    # -- exports ---------------------------------------------------------------------------

    def create_export(self, request: ExportRequest) -> ExportView:
        """Create an export (createInvoicesExport); it starts REQUESTED.

        Args:
            request: The validated request.

        Returns:
            The new export as it is now.

        """
        config = self.config
        queue = config.export_queue_seconds / config.time_scale
        processing = config.export_processing_seconds / config.time_scale
        now = self.clock()
        created = _whole_ms(self.wall_clock())
        found = self.data.select(request.date_start, request.date_end, request.invoice_filter)
        with self._lock:
            number = self._created
            self._created += 1
            export_id = seeded_uuid(self.data.seed, "created-export", number)
            # Not security relevant: reproducible failures, in creation order.
            dice = random.Random(f"{self.data.seed}:export-error:{number}")  # noqa: S311
            fails = dice.random() < config.export_error_rate
            predicate = config.export_error_predicate
            if predicate is not None and predicate(request.date_start, request.date_end):
                fails = True
            record = ExportRecord(
                export_id=export_id,
                seq=len(self.data.history) + number,
                created_at=created,
                started_at=created + timedelta(seconds=queue),
                finished_at=created + timedelta(seconds=queue + processing),
                processing_at=now + queue,
                done_at=now + queue + processing,
                fails=fails,
                error_message=EXPORT_ERRORS[number % len(EXPORT_ERRORS)] if fails else "",
                document_ids=() if fails else self._register_documents(export_id, found),
                date_start=request.date_start,
                date_end=request.date_end,
            )
            self._add(record)
        return ExportView.of(record, now)

    def export(self, export_id: str) -> ExportView | None:
        """Return an export as it is now (getInvoicesExport), or None if unknown."""
        with self._lock:
            record = self._by_id.get(export_id)
        return None if record is None else ExportView.of(record, self.clock())

    def export_status(self, export_id: str) -> str:
        """Return the live status of an export.

        Raises:
            KeyError: Unknown export.

        """
        view = self.export(export_id)
        if view is None:
            raise KeyError(export_id)
        return view.status

    def export_records(self, date_start: datetime, date_end: datetime) -> list[ExportRecord]:
        """Return the exports created in ``[date_start, date_end]``, oldest first."""
        lo_key = (to_micros(date_start), -1)
        hi_key = (to_micros(date_end), sys.maxsize)
        with self._lock:
            lo = bisect.bisect_left(self._keys, lo_key)
            hi = bisect.bisect_right(self._keys, hi_key)
            return self._records[lo:hi]

    def exports(
        self, date_start: datetime, date_end: datetime, status: str | None = None
    ) -> list[ExportView]:
        """Return what a complete getInvoicesExports sync yields now, in page order.

        Args:
            date_start: dateStart (creation time), inclusive.
            date_end: dateEnd (creation time), inclusive.
            status: Only exports in this status now.

        Returns:
            Views sorted by creation time.

        """
        now = self.clock()
        views = [ExportView.of(r, now) for r in self.export_records(date_start, date_end)]
        return [v for v in views if status is None or v.status == status]

    # -- documents -------------------------------------------------------------------------

    def document_invoices(self, document_id: str) -> list[TaxInvoice]:
        """Return the invoices of a document, in archive order.

        Raises:
            KeyError: Unknown document.

        """
        with self._lock:
            return list(self._documents[document_id].invoices)

    def document_invoice_ids(self, document_id: str) -> list[str]:
        """Return the invoice ids of a document; the ZIP names its files ``<id>.xml``.

        Raises:
            KeyError: Unknown document.

        """
        return [invoice.id for invoice in self.document_invoices(document_id)]

    def document_ready(self, document_id: str) -> bool:
        """Return True if the document exists and its export is DONE (getInvoicesDocument)."""
        with self._lock:
            document = self._documents.get(document_id)
            record = None if document is None else self._by_id.get(document.export_id or "")
        if document is None:
            return False
        return record is None or record.status(self.clock()) == DONE

    def document_files(self, document_id: str) -> list[tuple[str, datetime, bytes]]:
        """Return the files of a document: (name, time, bytes), in archive order.

        One ``<invoice id>.xml`` NF-e per invoice, each CANCELED invoice's followed by its
        cancellation event ``<invoice id>-procEventoNFe.xml`` when ``nfe_cancellation_events``
        is on.

        Raises:
            KeyError: Unknown document.

        """
        events = (
            self.config.nfe_cancellation_events and self.config.document_body is DocumentBody.ZIP
        )
        files: list[tuple[str, datetime, bytes]] = []
        for invoice in self.document_invoices(document_id):
            files.append((f"{invoice.id}.xml", invoice.date, self.nfe_xml(invoice)))
            if events and invoice.status == "CANCELED":
                event = cancellation_xml(invoice, seed=self.data.seed)
                files.append((f"{invoice.id}-procEventoNFe.xml", invoice.date, event))
        return files

    def iter_document_zip(self, document_id: str) -> Iterator[bytes] | None:
        """Return the document's ZIP as a stream of pieces, or None if unknown."""
        with self._lock:
            document = self._documents.get(document_id)
        if document is None:
            return None
        return zip_chunks(self.document_files(document_id))

    def document_body(self, document_id: str, *, download: bool = False) -> Iterator[bytes] | None:
        """Return what the download URL serves for a document, or None if unknown.

        ``document_body`` zip: the ZIP, as ``document_shape`` breaks it; xml: the document's
        one NF-e, bare; broken: the first half of the ZIP. ``download``: count this as one
        of the document's downloads (``truncated-once`` cuts only the first).
        """
        pieces = self.iter_document_zip(document_id)
        if pieces is None:
            return None
        with self._lock:
            downloads = self._downloads.get(document_id, 0)
            if download:
                self._downloads[document_id] = downloads + 1
        config = self.config
        if config.document_body is DocumentBody.XML:
            return iter([self.document_files(document_id)[0][2]])
        if not self.document_is_broken(document_id):
            return pieces
        return self._broken_body(document_id, pieces, first_download=downloads == 0)

    def _broken_body(
        self, document_id: str, pieces: Iterator[bytes], *, first_download: bool
    ) -> Iterator[bytes]:
        """What a broken document serves: ``document_body`` broken, or ``document_shape``."""
        config = self.config
        shape = config.document_shape
        cut = shape is DocumentShape.TRUNCATED_ONCE and first_download
        if config.document_body is DocumentBody.BROKEN or cut:
            whole = b"".join(pieces)
            return iter([whole[: len(whole) // 2]])
        if shape is DocumentShape.ENDLESS:
            return endless_body()
        if shape in (DocumentShape.NONE, DocumentShape.TRUNCATED_ONCE):
            return pieces
        files = self.document_files(document_id)
        return iter([shaped_zip(shape, files, bomb_bytes=config.document_bomb_bytes)])

    def document_is_broken(self, document_id: str) -> bool:
        """Whether document_shape (or document_body broken) breaks this document.

        The Nth, 2Nth, ... document in creation order (``document_shape_every``).
        """
        with self._lock:
            number = list(self._documents).index(document_id)  # the sandbox's is 0
        return number % self.config.document_shape_every == 0

    def document_zip(self, document_id: str) -> bytes:
        """Return the document's ZIP, byte-identical to what the download URL serves.

        Raises:
            KeyError: Unknown document.

        """
        pieces = self.iter_document_zip(document_id)
        if pieces is None:
            raise KeyError(document_id)
        return b"".join(pieces)

    # -- internals -------------------------------------------------------------------------

    def _history_record(self, history: HistoryExport, now: float) -> ExportRecord:
        config = self.config
        queue = config.export_queue_seconds / config.time_scale
        processing = config.export_processing_seconds / config.time_scale
        processing_at, done_at = _ALREADY, _ALREADY
        if history.outcome == REQUESTED:
            processing_at, done_at = now + queue, now + queue + processing
        elif history.outcome == PROCESSING:
            done_at = now + processing
        failed = history.outcome == ERROR
        found: Sequence[TaxInvoice] = ()
        if not failed:
            lo, hi = self.data.span(history.date_start, history.date_end)
            found = self.data.invoices[lo:hi]
        return ExportRecord(
            export_id=history.export_id,
            seq=history.day,
            created_at=history.created_at,
            started_at=history.started_at,
            finished_at=history.finished_at,
            processing_at=processing_at,
            done_at=done_at,
            fails=failed,
            error_message=history.error_message,
            document_ids=self._register_documents(history.export_id, found),
            date_start=history.date_start,
            date_end=history.date_end,
        )

    def _register_documents(
        self, export_id: str, invoices: Sequence[TaxInvoice]
    ) -> tuple[str, ...]:
        ids: list[str] = []
        for number, first in enumerate(range(0, len(invoices), self._per_document)):
            document_id = seeded_uuid(self.data.seed, "invoices-document", export_id, number)
            chunk = tuple(invoices[first : first + self._per_document])
            self._documents[document_id] = _Document(export_id, chunk)
            ids.append(document_id)
        return tuple(ids)

    def _add(self, record: ExportRecord) -> None:
        key = (to_micros(record.created_at), record.seq)
        position = bisect.bisect_right(self._keys, key)
        self._keys.insert(position, key)
        self._records.insert(position, record)
        self._by_id[record.export_id] = record


def _whole_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _invoices_api_of(inputs: FamilyInputs) -> InvoicesApi:
    return InvoicesApi(
        inputs.config, clock=inputs.clock, wall_clock=inputs.wall_clock, live=inputs.live
    )


# A selling partner's Invoices API state: invoices, exports, documents (families.py).
INVOICES_API: Family[InvoicesApi] = Family("Invoices API", _invoices_api_of)
