"""invoice_documents.document_files: a ZIP, one bare XML, or one clear error."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest

from tap_spinvoices.streams.invoice_documents import (
    DocumentFormatError,
    DownloadedDocument,
    document_files,
)

NFE = b'<?xml version="1.0"?><nfeProc xmlns="http://www.portalfiscal.inf.br/nfe"/>'


def zipped(*files: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def files(body: bytes, url_name: str = "doc-1.zip") -> list[tuple[str, bytes, bool]]:
    """(name, bytes, last?) of each file the document gives."""
    document = DownloadedDocument(io.BytesIO(body), url_name)
    return [
        (file.name, file.data, file.last)
        for file in document_files(document, document_id="doc-1", export_id="exp-1")
    ]


def test_zip_gives_its_xml_files_in_order_and_marks_the_last() -> None:
    body = zipped(("a.xml", b"<a/>"), ("notes.txt", b"x"), ("dir/b.XML", b"<b/>"))
    assert files(body) == [("a.xml", b"<a/>", False), ("dir/b.XML", b"<b/>", True)]


def test_zip_without_xml_gives_nothing() -> None:
    assert files(zipped(("readme.txt", b"x"))) == []


@pytest.mark.parametrize(
    ("body", "url_name", "expected_name"),
    [
        pytest.param(NFE, "18c598f5.xml", "18c598f5.xml", id="named-by-the-url"),
        pytest.param(NFE, "download", "doc-1.xml", id="url-without-xml-name"),
        pytest.param(b"\xef\xbb\xbf" + NFE, "x.xml", "x.xml", id="byte-order-mark"),
        pytest.param(b"\r\n  " + NFE, "x.xml", "x.xml", id="leading-white-space"),
        pytest.param(b"<broken", "x.xml", "x.xml", id="broken-xml-still-one-file"),
    ],
)
def test_body_that_is_xml_is_one_file(body: bytes, url_name: str, expected_name: str) -> None:
    assert files(body, url_name) == [(expected_name, body, True)]


@pytest.mark.parametrize(
    ("body", "what"),
    [
        pytest.param(zipped(("a.xml", b"<a/>"))[:40], "neither a ZIP nor XML", id="half-a-zip"),
        pytest.param(b"", "neither a ZIP nor XML", id="empty"),
        pytest.param(b"%PDF-1.7", "neither a ZIP nor XML (starts b'%PDF-1.7')", id="pdf"),
    ],
)
def test_anything_else_is_one_error_naming_export_and_document(body: bytes, what: str) -> None:
    with pytest.raises(DocumentFormatError) as caught:
        files(body)
    message = str(caught.value)
    assert "invoices document doc-1 of export exp-1 is" in message
    assert what in message
    assert "\n" not in message


def test_zip_with_a_corrupt_member_is_the_same_clear_error() -> None:
    body = bytearray(zipped(("a.xml", b"<a>" + b"x" * 5000 + b"</a>")))
    body[60:70] = b"\x00" * 10  # inside the deflated data: the CRC check fails
    with pytest.raises(DocumentFormatError, match="is a broken ZIP"):
        files(bytes(body))


def test_starting_the_tap_does_not_load_nfelib() -> None:
    # nfelib's bindings cost about 0.2 s CPU and 20 MB: only a run that reads documents pays.
    code = "import sys, tap_spinvoices.tap; print('nfelib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
