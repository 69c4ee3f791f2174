"""document_files.read_document: every entry a typed file or one line, within bounds.

Each hostile shape is fed to the pure reader as bytes (spapi_emulator/invoices/
hostile_documents.py writes the ZIPs zipfile cannot: encrypted flags, foreign methods, broken
names); the stream's records from these files are tested in test_document_records below and
against the emulator in tests/integration/test_hostile_documents.py.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import subprocess
import sys
import zipfile
from datetime import UTC, datetime

import pytest

from spapi_emulator.config import DocumentShape
from spapi_emulator.invoices.hostile_documents import (
    NOT_XML_FILES,
    RawEntry,
    deflated,
    latin1,
    raw_zip,
    shaped_zip,
    zeros_entry,
)
from tap_spinvoices.streams.document_files import (
    MB,
    DocumentLimits,
    DocumentReadError,
    FileKind,
    file_key,
    read_document,
)
from tap_spinvoices.streams.invoice_documents import document_record

NFE = b'<?xml version="1.0"?><nfeProc xmlns="http://www.portalfiscal.inf.br/nfe"/>'
LIMITS = DocumentLimits(max_download_bytes=64 * MB, max_files=1000, max_file_bytes=16 * MB)
MOMENT = datetime(2024, 1, 1, tzinfo=UTC)
# Bytes deflate cannot shrink: sizes without a compression ratio to speak of.
UNCOMPRESSIBLE = random.Random(0).randbytes(3 * MB)  # noqa: S311 - test data, not a secret


def zipped(*files: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def read(body: bytes, url_name: str = "doc-1.zip", limits: DocumentLimits = LIMITS):
    return list(
        read_document(io.BytesIO(body), url_name=url_name, document_id="doc-1", limits=limits)
    )


def summary(body: bytes, **kwargs):
    """(path, kind, key, warned?, last?) of each file."""
    return [
        (f.path, f.kind.value, f.key, f.warning is not None, f.last) for f in read(body, **kwargs)
    ]


def refused(body: bytes, limits: DocumentLimits = LIMITS) -> DocumentReadError:
    with pytest.raises(DocumentReadError) as caught:
        read(body, limits=limits)
    assert "\n" not in str(caught.value)
    return caught.value


def shaped(shape: DocumentShape, *files: tuple[str, bytes], bomb_bytes: int = 64 * MB) -> bytes:
    return shaped_zip(shape, [(n, MOMENT, d) for n, d in files], bomb_bytes=bomb_bytes)


class TestFiles:
    def test_a_zip_gives_every_entry_in_order_and_marks_the_last(self) -> None:
        body = zipped(("a.xml", b"<a/>"), ("notes.txt", b"x"), ("dir/b.XML", b"<b/>"))
        assert summary(body) == [
            ("a.xml", "xml", "a", False, False),
            ("notes.txt", "raw", "notes.txt", True, False),
            ("dir/b.XML", "xml", "dir/b", False, True),
        ]
        assert [f.data for f in read(body)] == [b"<a/>", b"x", b"<b/>"]

    def test_stored_entries_and_folders_read_folders_themselves_are_no_files(self) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.mkdir("dir")
            archive.writestr("dir/a.xml", b"<a/>")
        assert summary(buffer.getvalue()) == [("dir/a.xml", "xml", "dir/a", False, True)]

    def test_an_empty_zip_gives_no_file(self) -> None:
        assert read(shaped(DocumentShape.EMPTY, ("a.xml", NFE))) == []

    def test_entries_not_named_xml_are_kept_raw_with_a_warning(self) -> None:
        files = read(shaped(DocumentShape.NOT_XML, ("a.xml", NFE)))
        raw = [f for f in files if f.kind is FileKind.RAW]
        assert [(f.path, f.data) for f in raw] == list(NOT_XML_FILES)
        assert all("not named .xml" in (f.warning or "") for f in raw)

    def test_a_zip_inside_the_zip_is_read_one_level_deep_and_deeper_kept_raw(self) -> None:
        body = shaped(DocumentShape.NESTED, ("a.xml", NFE), ("b.xml", b"<b/>"), ("c.xml", b"<c/>"))
        assert summary(body) == [
            ("a.xml", "xml", "a", False, False),
            ("inner.zip/b.xml", "xml", "inner.zip/b", False, False),
            ("inner.zip/c.xml", "xml", "inner.zip/c", False, False),
            ("inner.zip/deeper.zip", "raw", "inner.zip/deeper.zip", True, True),
        ]
        deeper = read(body)[-1]
        assert zipfile.ZipFile(io.BytesIO(deeper.data)).read("a.xml") == NFE

    def test_bytes_that_are_not_utf8_are_kept_exactly(self) -> None:
        utf8 = '<?xml version="1.0" encoding="UTF-8"?><a>ção</a>'.encode()
        (file,) = read(shaped(DocumentShape.NON_UTF8_BYTES, ("a.xml", utf8)))
        assert file.kind is FileKind.XML
        assert file.data == latin1(utf8)
        assert file.data.endswith("<a>ção</a>".encode("latin-1"))


class TestKeys:
    @pytest.mark.parametrize(
        ("path", "key"),
        [
            ("18c598f5.xml", "18c598f5"),  # at the root: the key of earlier versions
            ("18c598f5.XML", "18c598f5"),
            ("a/dup.xml", "a/dup"),
            ("inner.zip/x.xml", "inner.zip/x"),
            ("notes.txt", "notes.txt"),
            ("archive.xml.gz", "archive.xml.gz"),
        ],
    )
    def test_the_key_is_the_path_without_xml(self, path: str, key: str) -> None:
        assert file_key(path) == key

    def test_the_same_name_in_two_folders_is_two_keys(self) -> None:
        body = shaped(DocumentShape.DUPLICATE_NAMES, ("dup.xml", NFE), ("other.xml", NFE))
        assert [f.key for f in read(body)] == ["a/dup", "a/other", "b/dup"]

    @pytest.mark.parametrize(
        "names", [("x.xml", "x.xml"), ("x.xml", "x.XML")], ids=["same-name-twice", "case"]
    )
    def test_a_key_taken_twice_in_one_document_is_written_apart_with_a_warning(
        self, names: tuple[str, str]
    ) -> None:
        body = raw_zip([deflated(names[0], b"<a/>"), deflated(names[1], b"<b/>")])
        first, second = read(body)
        assert (first.key, first.warning) == ("x", None)
        assert second.key == "x#2"
        assert "the same key as an earlier entry (x): written as x#2" in (second.warning or "")

    def test_an_entry_named_like_a_written_apart_key_gets_a_key_of_its_own(self) -> None:
        body = raw_zip(
            [
                deflated("x.xml", b"<a/>"),
                deflated("x.xml", b"<b/>"),
                deflated("x#2.xml", b"<c/>"),
                deflated("x.xml", b"<d/>"),
            ]
        )
        keys = [f.key for f in read(body)]
        assert keys == ["x", "x#2", "x#2#2", "x#3"]
        assert len(set(keys)) == len(keys)


class TestBareBody:
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
    def test_a_body_that_is_xml_is_one_file(
        self, body: bytes, url_name: str, expected_name: str
    ) -> None:
        (file,) = read(body, url_name=url_name)
        assert (file.path, file.data, file.kind, file.last) == (
            expected_name,
            body,
            FileKind.XML,
            True,
        )
        assert file.key == expected_name.removesuffix(".xml")

    def test_a_bare_xml_longer_than_max_record_mb_names_it(self) -> None:
        limits = DocumentLimits(max_download_bytes=64 * MB, max_files=10, max_file_bytes=MB)
        error = refused(b"<a>" + b"x" * MB + b"</a>", limits)
        assert "more than max_record_mb (1 MB" in str(error)


class TestErrors:
    """Each broken document: one line, its cause, its fix, and whether to download again."""

    @pytest.mark.parametrize(
        ("body", "problem", "again"),
        [
            pytest.param(
                zipped(("a.xml", b"<a/>" * 100))[:60],
                "is a truncated ZIP (60 bytes: it starts like a ZIP but its end of central "
                "directory is missing)",
                True,
                id="truncated",
            ),
            pytest.param(b"", "is empty (0 bytes)", True, id="empty-body"),
            pytest.param(
                b"%PDF-1.7", "is neither a ZIP nor XML (starts b'%PDF-1.7')", True, id="pdf"
            ),
            pytest.param(
                shaped(DocumentShape.CORRUPT, ("a.xml", NFE * 20)),
                "has corrupt data in entry a.xml (Error -3 while decompressing data",
                True,
                id="corrupt-deflate",
            ),
            pytest.param(
                shaped(DocumentShape.ENCRYPTED, ("a.xml", NFE)),
                "has an encrypted entry a.xml (the tap holds no password for it)",
                False,
                id="encrypted",
            ),
            pytest.param(
                shaped(DocumentShape.UNSUPPORTED_METHOD, ("a.xml", NFE)),
                "has entry a.xml compressed with method 9 (Deflate64), which the tap does not read",
                False,
                id="deflate64",
            ),
            pytest.param(
                zipped(("a.xml", NFE), method=zipfile.ZIP_BZIP2),
                "has entry a.xml compressed with method 12 (bzip2)",
                False,
                id="bzip2-unbounded-in-zipfile",
            ),
            pytest.param(
                shaped(DocumentShape.NON_UTF8_NAME, ("a.xml", NFE)),
                "has an entry name marked as UTF-8 that is not UTF-8 (bytes b'\\xe7a.xml')",
                False,
                id="non-utf8-name",
            ),
            pytest.param(
                raw_zip(
                    [deflated("a.xml", NFE), deflated("inner.zip", zipped(("b.xml", NFE))[:50])]
                ),
                "holds a ZIP inner.zip that is a truncated ZIP (50 bytes",
                False,
                id="truncated-zip-inside",
            ),
        ],
    )
    def test_a_broken_document_is_one_line_naming_the_cause(
        self, body: bytes, problem: str, again: bool
    ) -> None:
        error = refused(body)
        assert error.problem.startswith(problem), error.problem
        assert error.transfer_damage is again
        assert str(error).endswith(f"Fix: {error.fix}")
        fix = "the next run downloads it again" if again else "report the export id to Amazon"
        assert fix in error.fix

    def test_a_crc_that_does_not_match_is_corrupt_data(self) -> None:
        good = deflated("a.xml", NFE)
        body = raw_zip([RawEntry(good.name, good.stored, good.crc ^ 1, good.size)])
        error = refused(body)
        assert "has corrupt data in entry a.xml (Bad CRC-32" in error.problem
        assert error.transfer_damage


class TestBounds:
    def test_a_zip_bomb_is_refused_from_its_declared_sizes_before_unzipping(self) -> None:
        # 2 GiB of zeros declared in a ZIP of about 2 MB, the case that once ended in a
        # segfault (the emulator's whole bomb: tests/integration/test_hostile_documents.py).
        # Deflate data of 16 MiB stands for it: what is declared is refused before a read.
        zeros = zeros_entry("bomb.xml", 16 * MB)
        stored = zeros.stored * 128
        body = raw_zip([RawEntry(zeros.name, stored, zeros.crc, 2 << 30)])
        error = refused(body)
        assert error.problem.startswith(
            f"has entry bomb.xml unzipping to 2,048 MB from {len(stored):,}"
        )
        assert "more than 100 to 1 (a zip bomb" in error.problem
        assert not error.transfer_damage

    def test_a_bomb_declaring_a_small_size_is_cut_at_it_and_fails_its_crc(self) -> None:
        bomb = zeros_entry("bomb.xml", 64 * MB)
        body = raw_zip([RawEntry(bomb.name, bomb.stored, bomb.crc, 1000)])
        assert "has corrupt data in entry bomb.xml (Bad CRC-32" in refused(body).problem

    def test_an_entry_larger_than_max_record_mb_names_the_setting(self) -> None:
        limits = DocumentLimits(max_download_bytes=64 * MB, max_files=10, max_file_bytes=2 * MB)
        error = refused(zipped(("big.xml", UNCOMPRESSIBLE[: 3 * MB])), limits)
        assert error.problem == (
            "has file big.xml of 3 MB, more than max_record_mb (2 MB; one file is one record)"
        )
        assert "raise max_record_mb" in error.fix

    def test_more_entries_than_max_document_files_are_refused_before_zipfile_reads_them(
        self,
    ) -> None:
        limits = DocumentLimits(max_download_bytes=64 * MB, max_files=3, max_file_bytes=MB)
        body = zipped(*[(f"{n}.xml", b"<a/>") for n in range(4)])
        error = refused(body, limits)
        assert error.problem.startswith("holds more than max_document_files (3) files")
        assert "raise max_document_files" in error.fix

    def test_an_end_record_claiming_fewer_entries_than_it_holds_is_counted_anyway(self) -> None:
        limits = DocumentLimits(max_download_bytes=64 * MB, max_files=3, max_file_bytes=MB)
        body = bytearray(zipped(*[(f"{n}.xml", b"<a/>") for n in range(5)]))
        end = body.rfind(b"PK\x05\x06")
        struct.pack_into("<HH", body, end + 8, 1, 1)  # entries on this disk, in all
        assert "holds more than max_document_files (3)" in refused(bytes(body), limits).problem

    def test_entries_of_a_zip_inside_count_towards_max_document_files(self) -> None:
        limits = DocumentLimits(max_download_bytes=64 * MB, max_files=3, max_file_bytes=MB)
        inner = zipped(*[(f"{n}.xml", b"<a/>") for n in range(3)])
        error = refused(zipped(("inner.zip", inner)), limits)
        assert "holds more than max_document_files (3) files (in inner.zip)" in error.problem

    def test_files_unzipping_past_twenty_times_max_document_mb_are_refused(self) -> None:
        limits = DocumentLimits(max_download_bytes=MB, max_files=100, max_file_bytes=16 * MB)
        data = UNCOMPRESSIBLE[: 2 * MB]
        error = refused(zipped(*[(f"{n}.xml", data) for n in range(11)]), limits)
        assert error.problem == "unzips to more than 20 x max_document_mb (20 MB)"
        assert "raise max_document_mb" in error.fix


class TestRecords:
    """document_record: exact text for UTF-8, Base64 with the flag for anything else."""

    def record(self, path: str, data: bytes, kind: FileKind, warning: str | None = None):
        from tap_spinvoices.streams.document_files import DocumentFile  # noqa: PLC0415

        file = DocumentFile(path, data, kind, key=file_key(path), warning=warning)
        record, _ = document_record(file, document_id="doc-1", export_id="exp-1", marketplace="M")
        return record

    def test_utf8_xml_is_its_exact_text(self) -> None:
        data = '<?xml version="1.0"?>\n<a>emissão</a>'.encode()
        record = self.record("a/x.xml", data, FileKind.XML)
        assert (record["xml"], record["xml_base64"], record["content_is_base64"]) == (
            data.decode(),
            None,
            False,
        )
        assert (record["invoiceId"], record["file_name"]) == ("a/x", "a/x.xml")

    def test_xml_that_is_not_utf8_is_its_bytes_in_base64_and_still_parsed(self) -> None:
        data = latin1(NFE.replace(b"/>", "><!-- ção --></nfeProc>".encode()))
        record = self.record("x.xml", data, FileKind.XML)
        assert record["xml"] is None
        assert record["content_is_base64"] is True
        assert base64.b64decode(record["xml_base64"]) == data
        assert record["parse_status"] != "not_xml"  # nfelib read the bytes themselves

    def test_a_raw_file_is_its_bytes_in_base64_not_parsed(self) -> None:
        record = self.record("notes.txt", b"hello", FileKind.RAW, warning="not named .xml")
        assert base64.b64decode(record["xml_base64"]) == b"hello"
        assert (record["xml"], record["content_is_base64"]) == (None, True)
        assert (record["parse_status"], record["parse_error"]) == ("not_xml", "not named .xml")
        assert record["accessKey"] is None


def test_starting_the_tap_does_not_load_nfelib() -> None:
    # nfelib's bindings cost about 0.2 s CPU and 20 MB: only a run that reads documents pays.
    code = "import sys, tap_spinvoices.tap; print('nfelib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
