"""A page of customer invoices archived: every PDF stored, then its record says where."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from datetime import UTC, datetime, timedelta

import pytest

from tap_spinvoices.archive.archiver import Archive
from tap_spinvoices.archive.config import ArchiveConfig, parse_archive_url
from tap_spinvoices.errors import ArchiveError
from tap_spinvoices.streams.customer_invoice_files import archive_page, decode_pdf
from tap_spinvoices.sync.windows import Window
from tests.unit.test_archiver import ScriptedStore, s3_answer

START = datetime(2024, 1, 5, 6, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=6))
PDF = b"%PDF-1.4 invoice"


def record(number: str, content: object) -> dict:
    return {"purchaseOrderNumber": number, "content": content, "window_start": "..."}


def archive_with(store: ScriptedStore) -> Archive:
    return Archive(ArchiveConfig(parse_archive_url("s3://acme/spapi")), "V1", store)


def run_page(store, records, *, keep_content=True, logger=None):
    uploads = archive_with(store).uploads()
    asyncio.run(
        archive_page(
            uploads,
            WINDOW,
            records,
            keep_content=keep_content,
            logger=logger or logging.getLogger("test"),
        )
    )


def test_every_pdf_of_a_page_is_stored_and_its_record_names_it():
    store = ScriptedStore()
    records = [record(f"PO{n}", base64.b64encode(PDF + bytes([n])).decode()) for n in range(5)]

    run_page(store, records)

    assert len(store.objects) == 5
    for n, rec in enumerate(records):
        pdf = PDF + bytes([n])
        digest = hashlib.sha256(pdf).hexdigest()
        name = f"V1/customer_invoices/2024/01/05/PO{n}--{digest}.pdf"
        assert rec["archive_uri"] == f"s3://acme/spapi/{name}"
        assert (rec["content_sha256"], rec["content_bytes"]) == (digest, len(pdf))
        assert store.objects[name] == pdf
        assert rec["content"] == base64.b64encode(pdf).decode()


def test_content_the_catalog_does_not_select_is_dropped_once_archived():
    store = ScriptedStore()
    records = [record("PO1", base64.b64encode(PDF).decode())]

    run_page(store, records, keep_content=False)

    assert "content" not in records[0]
    assert records[0]["archive_uri"].endswith(".pdf")


@pytest.mark.parametrize("content", ["not base64 at all!", 12345, None])
def test_content_that_is_not_base64_is_archived_as_received_and_warned_about(content, caplog):
    store = ScriptedStore()
    records = [record("PO9", content)]

    with caplog.at_level(logging.WARNING):
        run_page(store, records)

    (name,) = store.objects
    assert name.endswith(".txt")
    expected = content if isinstance(content, str) else str(content or "null")
    assert store.objects[name] == expected.encode()
    assert records[0]["archive_uri"] == f"s3://acme/spapi/{name}"
    assert records[0]["content_sha256"] is None
    assert records[0]["content_bytes"] is None
    assert "purchase order 'PO9' is not valid Base64; archived as received" in caplog.text


def test_a_store_refusal_fails_the_page_and_no_record_names_a_missing_object():
    store = ScriptedStore([s3_answer("403 Forbidden", "AccessDenied")] * 3)
    records = [record(f"PO{n}", base64.b64encode(PDF).decode()) for n in range(3)]

    with pytest.raises(ArchiveError, match="access denied"):
        run_page(store, records)
    assert store.objects == {}
    assert all("archive_uri" not in r for r in records)


def test_line_breaks_in_base64_are_tolerated_anything_else_is_not():
    encoded = base64.encodebytes(PDF * 10).decode()  # with a newline every 76 characters

    assert decode_pdf(encoded) == PDF * 10
    assert decode_pdf(encoded.replace("\n", "*")) is None
