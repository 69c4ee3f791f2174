"""The archive: each document stored once, in the user's storage, before a record names it.

Set by ``archive_url`` (docs/archive.md).

One call, usable from any stream's I/O side (the event loop of ``SessionStream``)::

    uploads = run.archive.uploads()          # once per event loop (one per partition)
    stored = await uploads.store(Document(stream, day, business_id, data, extension))
    record["archive_uri"] = stored.uri       # only now may the record be written
    record["..._sha256"], record["..._bytes"] = stored.sha256, stored.size

``store`` returns once the object is durable (the store acknowledged a conditional PUT, or a
local file was fsync'd and linked into place) or the object was already there with these
bytes (a name holds the SHA-256 of its bytes, so an existing name is the same content: a
re-run or a run after a SIGKILL reuses it and writes nothing). It raises ``ArchiveError``
(one line naming archive_url, the bucket or folder, the object and the fix) when the store
refuses for good. Many ``store`` calls may run at once (``asyncio.gather``); ``Uploads``
bounds them by count and bytes (``archive_uploads_in_flight``, ``archive_mb_in_flight``).

Who uses it:

- customer_invoices (streams/customer_invoice_files.py): the decoded PDF of every invoice
  of a page, stored between the de-duplication of the windows and the hand-over to the
  SDK's thread, in window order (WindowedStream's ``prepare_page``): a record crosses to
  the SDK's thread, and so to stdout and under a bookmark, only with its ``archive_uri``.
- invoice_documents (streams/invoice_document_files.py): each NF-e and NF-e event XML file
  as read from the export document's ZIP, bytes exactly, a page of files at a time on the
  I/O side where the files are read, before the page crosses the bridge; the document's
  ``PartDone`` (and so its place in ``done_document_ids``) follows its last page. The day
  is the one the NF-e bears (``dhEmi``, an event's ``dhEvento``, as written), else the
  export's; the business id the 44-digit access key (an event: key-tpEvento-nSeqEvento),
  else the ZIP entry name (untrusted bytes are fine: naming.py escapes them).

Modules: config.py (archive_url and options, pure), naming.py (object names, pure),
failures.py (what a store error means, pure), stores.py (obstore for S3/GCS/Azure, os calls
for a local folder), archiver.py (``Archive``, ``Uploads``). The auditor's
``tap-spinvoices-verify`` reads the settings, so it lives above: verify_archive.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tap_spinvoices.archive.archiver import Archive
    from tap_spinvoices.archive.config import ArchiveConfig


def open_archive(config: ArchiveConfig, account_id: str) -> Archive:
    """The archive ``config`` names, for ``account_id``'s documents (no I/O yet).

    obstore (45 ms to import) is loaded here, only when archive_url is set.
    """
    from tap_spinvoices.archive.archiver import Archive  # noqa: PLC0415 - see above
    from tap_spinvoices.archive.stores import open_store  # noqa: PLC0415 - see above

    return Archive(config, account_id, open_store(config))
