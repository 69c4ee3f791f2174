"""invoice_items and invoice_events: the item lines and events of the NF-e files.

Both are child streams of invoice_documents: the SDK syncs them once per export document,
right after that document's last invoice_documents record and before the document is marked
done in state, so a run stopped halfway downloads the document again and writes its items
and events again (the primary keys make that an upsert). They keep no state of their own.
Records come from ``InvoiceDocumentsStream.take_child_records``, which nfelib filled while
the parent read the document; nothing is downloaded twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_spinvoices.streams.invoice_documents import (
    EVENTS_STREAM,
    ITEMS_STREAM,
    InvoiceDocumentsStream,
)
from tap_spinvoices.sync.session_stream import StreamWithRunContext
from tap_spinvoices.sync.windowed_stream import load_schema

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context


class _NfeChildStream(StreamWithRunContext):
    """Records the parent read from one export document, handed over after its last file."""

    parent_stream_type = InvoiceDocumentsStream
    # The parent's state (downloaded document ids) is the only state: none per document.
    state_partitioning_keys: ClassVar[list[str]] = []
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The records of the document named in the context."""
        if context is None:
            return []
        parent = self.run.streams[InvoiceDocumentsStream.name]
        assert isinstance(parent, InvoiceDocumentsStream)  # noqa: S101 - fixed stream tree
        return parent.take_child_records(self.name, context["invoicesDocumentId"])


class InvoiceItemsStream(_NfeChildStream):
    """One record per NF-e item line (``det``), with its ICMS, IPI, PIS and COFINS."""

    name = ITEMS_STREAM
    primary_keys: ClassVar[list[str]] = ["accessKey", "nItem"]
    schema = load_schema(ITEMS_STREAM)


class InvoiceEventsStream(_NfeChildStream):
    """One record per NF-e event (``procEventoNFe``): cancellation, correction letter, ..."""

    name = EVENTS_STREAM
    primary_keys: ClassVar[list[str]] = ["accessKey", "tpEvento", "nSeqEvento"]
    schema = load_schema(EVENTS_STREAM)
