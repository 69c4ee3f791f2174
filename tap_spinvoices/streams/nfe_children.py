"""invoice_items and invoice_events: the item lines and events of the NF-e files.

Both are child streams of invoice_documents: the SDK syncs them once per export document,
right after that document's last invoice_documents record and before the document is marked
done in state, so a run stopped halfway downloads the document again and writes its items
and events again (the primary keys make that an upsert). They keep no state of their own.
Their records are the document's ``DocumentNfeRows``, which the parent collected while it
read the document and put in the child context (``NFE_ROWS``); nothing is downloaded twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_spinvoices.streams.invoice_documents import (
    NFE_ROWS,
    DocumentNfeRows,
    InvoiceDocumentsStream,
)
from tap_spinvoices.streams.schemas import load_schema

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context


class _NfeChildStream(Stream):
    """Rows the parent read from one export document, handed over after its last file."""

    parent_stream_type = InvoiceDocumentsStream
    # The parent's state (downloaded document ids) is the only state: none per document,
    # and the context's rows (no JSON) never go into the state.
    state_partitioning_keys: ClassVar[list[str]] = []
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def rows(self, document: DocumentNfeRows) -> list[dict[str, Any]]:
        """This stream's rows of the document."""
        raise NotImplementedError

    @override
    def preprocess_context(self, context: Context) -> Context:
        """Check the context holds the rows invoice_documents handed over."""
        NFE_ROWS.read(context)
        return context

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The rows of the document named in the context."""
        if context is None:
            return []
        return self.rows(NFE_ROWS.read(context))


class InvoiceItemsStream(_NfeChildStream):
    """One record per NF-e item line (``det``), with its ICMS, IPI, PIS and COFINS."""

    name = "invoice_items"
    primary_keys: ClassVar[list[str]] = ["accessKey", "nItem"]
    schema = load_schema("invoice_items")

    @override
    def rows(self, document: DocumentNfeRows) -> list[dict[str, Any]]:
        """The document's item lines."""
        return document.items


class InvoiceEventsStream(_NfeChildStream):
    """One record per NF-e event (``procEventoNFe``): cancellation, correction letter, ..."""

    name = "invoice_events"
    primary_keys: ClassVar[list[str]] = ["accessKey", "tpEvento", "nSeqEvento"]
    schema = load_schema("invoice_events")

    @override
    def rows(self, document: DocumentNfeRows) -> list[dict[str, Any]]:
        """The document's events."""
        return document.events
