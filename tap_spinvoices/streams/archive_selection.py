"""A stream whose documents the archive stores: its default selection, its end-of-sync line.

With the archive on (docs/archive.md), the references to the stored file are always written
(automatic inclusion: a catalog cannot drop them) and the document itself (customer_invoices'
Base64 ``content``, invoice_documents' ``xml``) is not selected by default: the archive holds
it, exactly and checksummed, and a warehouse copy would double its storage and may not fit
(a Redshift VARCHAR holds 65,535 bytes). A catalog that lists the stream keeps its own
selection of everything else; without the archive nothing changes but that the references
are not selected by default (they would be empty).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from singer_sdk.singerlib import Metadata
from typing_extensions import override

from tap_spinvoices.sync.api_stream import StreamWithRunContext

if TYPE_CHECKING:
    from singer_sdk.singerlib import Catalog, MetadataMapping


class ArchiveSelection(StreamWithRunContext):
    """Mixin: the default selection of an archived stream's properties (see the module doc)."""

    # Written whenever the archive is on: where the file is, and what it is.
    archive_fields: ClassVar[frozenset[str]]
    # Not selected by default without the archive (archive_fields that would be empty or cost).
    unselected_without_archive: ClassVar[frozenset[str]]
    # The document itself, which the archive holds: not selected by default with it.
    document_fields: ClassVar[frozenset[str]]

    # Whether the input catalog has an entry for this stream (see ``metadata``).
    _in_input_catalog = False

    @override
    def apply_catalog(self, catalog: Catalog) -> None:
        """Apply the input catalog, noting whether it lists this stream."""
        self._in_input_catalog = catalog.get_stream(self.tap_stream_id) is not None
        super().apply_catalog(catalog)

    @property
    @override
    def metadata(self) -> MetadataMapping:
        """Standard metadata, with what is selected by default depending on the archive."""
        metadata = super().metadata
        archived = self.run.archive_is_set
        if archived:
            for name in self.archive_fields:
                entry = metadata.setdefault(("properties", name), Metadata())
                entry.inclusion = Metadata.InclusionType.AUTOMATIC
        if not self._in_input_catalog:
            unselected = self.document_fields if archived else self.unselected_without_archive
            for name in unselected:
                metadata[("properties", name)].selected_by_default = False
        return metadata

    def log_archived(self, files: str) -> None:
        """With the archive: a line of what it stored of this stream so far (``files``: "PDFs")."""
        archive = self.run.archive
        if archive is None:
            return
        counts = archive.counts(self.name)
        self.logger.info(
            "%s: archive: %d %s stored (%.1f MB), %d already there, in %s",
            self.name,
            counts.created,
            files,
            counts.created_bytes / 1e6,
            counts.reused,
            archive.config.location.uri("").rstrip("/"),
        )

    def keeps(self, name: str) -> bool:
        """Whether the catalog selects property ``name`` (after the defaults above)."""
        return bool(self.mask[("properties", name)])
