"""Hostile export documents against the tap as a subprocess: exact, or one line after the STATE.

The emulator breaks every document's ZIP one way (``document_shape``,
spapi_emulator/invoices/hostile_documents.py; none a claim about Amazon). Each case ends one
of two ways: every file of every DONE document written exactly once, as its record or a
counted WARNING (exit 0), or one ERROR line naming the export, the document, the cause and
the fix, the last line on stderr, after a STATE that marks only finished documents done
(exit 1). Expectations come from the served bytes, unzipped here with zipfile.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import config_for
from tests.integration.test_hostile_input import messages_at, one_error_line
from tests.integration.test_invoices_api import END, INVOICES_EMULATOR, START, api, listed_exports
from tests.singer_run import TapRun, run_tap

if TYPE_CHECKING:
    from spapi_emulator import EmulatorServer

NFE_STREAMS = ("invoice_exports", "invoice_documents", "invoice_items", "invoice_events")
# A bomb of 64 MiB (64 KB deflated) shows the ratio bound; benchmarks/
# bench_hostile_documents.py serves the whole 2 GiB and measures the tap's memory.
BOMB_BYTES = 64 << 20


def done_documents(emu: EmulatorServer) -> list[tuple[str, str]]:
    """(export id, document id) of every DONE export's documents, in the tap's order."""
    return [
        (view.export_id, document_id)
        for view in listed_exports(emu)
        if view.status == "DONE"
        for document_id in view.document_ids
    ]


def served_files(emu: EmulatorServer, document_id: str) -> dict[str, bytes]:
    """Path -> bytes of each file the document's served ZIP holds, a ZIP in it unzipped."""
    body = b"".join(api(emu).document_body(document_id) or [])
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(body)) as outer:
        for name in outer.namelist():
            data = outer.read(name)
            if name.endswith(".zip") and "/" not in name:
                with zipfile.ZipFile(io.BytesIO(data)) as inner:
                    files.update({f"{name}/{n}": inner.read(n) for n in inner.namelist()})
            else:
                files[name] = data
    return files


def record_bytes(record: dict[str, Any]) -> bytes:
    if record["content_is_base64"]:
        assert record["xml"] is None
        return base64.b64decode(record["xml_base64"])
    assert record["xml_base64"] is None
    return record["xml"].encode()


def hostile_run(emu: EmulatorServer, **settings: Any) -> TapRun:
    builder = config_for(emu).with_range(START, END)
    for name, value in settings.items():
        builder = builder.with_setting(name, value)
    return run_tap(builder.build(), streams=NFE_STREAMS)


def assert_every_file_written_once(run: TapRun, emu: EmulatorServer) -> list[dict[str, Any]]:
    """Each served file is one record with its exact bytes; returns the records."""
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    records = run.records("invoice_documents")
    written = {(r["invoicesDocumentId"], r["file_name"]): r for r in records}
    assert len(written) == len(records)  # no file twice
    expected = {
        (document_id, path): data
        for _, document_id in done_documents(emu)
        for path, data in served_files(emu, document_id).items()
    }
    assert written.keys() == expected.keys()
    for where, data in expected.items():
        assert record_bytes(written[where]) == data, where
    keys = [(r["invoicesDocumentId"], r["invoiceId"]) for r in records]
    assert len(set(keys)) == len(keys)  # keys unique per file
    state = run.final_state["bookmarks"]["invoice_documents"]
    assert set(state["done_document_ids"]) == {d for _, d in done_documents(emu)}
    return records


def document_warnings(run: TapRun) -> list[str]:
    return [m for m in messages_at(run, "WARNING") if m.startswith("export ")]


def summary_warnings(run: TapRun) -> int:
    pattern = re.compile(r"(\d+) warnings about documents and files$")
    counts = [pattern.search(m) for m in messages_at(run, "INFO")]
    return sum(int(m[1]) for m in counts if m)


def test_an_empty_zip_is_a_counted_warning_and_the_document_is_done(emulator_factory):
    emu = emulator_factory(**INVOICES_EMULATOR, document_shape="empty")

    run = hostile_run(emu)

    assert_every_file_written_once(run, emu)
    assert run.records("invoice_documents") == []
    warnings = document_warnings(run)
    assert sorted(warnings) == sorted(
        f"export {export_id}, document {document_id}: the document holds no file (an empty "
        "ZIP): no record to write; marked done"
        for export_id, document_id in done_documents(emu)
    )
    assert summary_warnings(run) == len(warnings) > 0


def test_a_zip_inside_the_zip_is_read_one_level_deep_and_a_deeper_one_kept_as_bytes(
    emulator_factory,
):
    emu = emulator_factory(**INVOICES_EMULATOR, document_shape="nested")

    run = hostile_run(emu)

    records = assert_every_file_written_once(run, emu)
    inner = [r for r in records if r["file_name"].startswith("inner.zip/")]
    assert any(r["parse_status"] == "parsed" for r in inner)
    assert {r["invoiceId"] for r in inner} == {r["file_name"].removesuffix(".xml") for r in inner}
    deeper = [r for r in records if r["file_name"] == "inner.zip/deeper.zip"]
    assert len(deeper) == len(done_documents(emu))
    assert all(r["parse_status"] == "not_xml" and r["content_is_base64"] for r in deeper)
    warnings = document_warnings(run)
    for export_id, document_id in done_documents(emu):
        assert (
            f"export {export_id}, document {document_id}, entry inner.zip/deeper.zip: a ZIP "
            "inside a ZIP inside the document: kept as bytes, not unzipped"
        ) in warnings
    assert summary_warnings(run) == len(warnings)


def test_entries_that_are_not_xml_are_kept_as_bytes_with_a_warning_naming_them(
    emulator_factory,
):
    emu = emulator_factory(**INVOICES_EMULATOR, document_shape="not-xml")

    run = hostile_run(emu)

    records = assert_every_file_written_once(run, emu)
    raw = [r for r in records if r["file_name"] in {"README.txt", "logo.png"}]
    assert len(raw) == 2 * len(done_documents(emu))
    assert all(r["parse_status"] == "not_xml" and r["invoiceId"] == r["file_name"] for r in raw)
    warnings = document_warnings(run)
    for export_id, document_id in done_documents(emu):
        for name in ("README.txt", "logo.png"):
            assert (
                f"export {export_id}, document {document_id}, entry {name}: not named .xml: "
                "kept as bytes (Base64), not read as an NF-e"
            ) in warnings
    assert summary_warnings(run) == len(warnings)


def test_the_same_file_name_in_two_folders_is_two_records_with_two_keys(emulator_factory):
    emu = emulator_factory(**INVOICES_EMULATOR, document_shape="duplicate-names")

    run = hostile_run(emu)

    records = assert_every_file_written_once(run, emu)
    for _, document_id in done_documents(emu):
        first = api(emu).document_files(document_id)[0][0].removesuffix(".xml")
        both = sorted(
            r["invoiceId"]
            for r in records
            if r["invoicesDocumentId"] == document_id and r["invoiceId"].endswith(f"/{first}")
        )
        assert both == [f"a/{first}", f"b/{first}"]
    assert document_warnings(run) == []


def test_xml_that_is_not_utf8_is_kept_as_its_exact_bytes_in_base64_and_still_read(
    emulator_factory,
):
    emu = emulator_factory(**INVOICES_EMULATOR, document_shape="non-utf8-bytes")

    run = hostile_run(emu)

    records = assert_every_file_written_once(run, emu)
    assert records
    assert all(r["content_is_base64"] and r["parse_status"] == "parsed" for r in records)
    assert run.records("invoice_items")


def test_a_download_cut_short_once_is_downloaded_again_from_a_fresh_url_and_completes(
    emulator_factory,
):
    emu = emulator_factory(**INVOICES_EMULATOR, document_shape="truncated-once")

    run = hostile_run(emu)

    assert_every_file_written_once(run, emu)
    documents = done_documents(emu)
    again = [m for m in document_warnings(run) if "downloading it again" in m]
    assert len(again) == len(documents)
    assert all("is a truncated ZIP" in m and m.endswith("from a fresh URL (2/2)") for m in again)
    # Each document downloaded twice, each time from a URL minted for it (a throttled
    # getInvoicesDocument call is retried, so those calls are not counted here).
    operations = emu.stats()["operations"]
    assert operations["s3Download"]["requests"] == 2 * len(documents), operations
    assert "s3DownloadExpired" not in operations


@pytest.mark.parametrize(
    ("emulator", "settings", "problem"),
    [
        pytest.param(
            {"document_body": "broken"},
            {},
            r"is a truncated ZIP \([\d,]+ bytes: it starts like a ZIP but its end of central "
            r"directory is missing\) on all 2 downloads, each from a fresh URL\. Fix: the next "
            r"run downloads it again; if it stays so, report the export id to Amazon",
            id="truncated-always",
        ),
        pytest.param(
            {"document_shape": "corrupt"},
            {},
            r"has corrupt data in entry \S+\.xml \(Error -3 while decompressing data: [^)]+\) on "
            r"all 2 downloads, each from a fresh URL\. Fix: the next run downloads it again; if "
            r"it stays so, report the export id to Amazon",
            id="corrupt",
        ),
        pytest.param(
            {"document_shape": "bomb", "document_bomb_bytes": BOMB_BYTES},
            {},
            r"has entry bomb\.xml unzipping to 64 MB from [\d,]+ bytes, more than 100 to 1 \(a "
            r"zip bomb; NF-e XML deflates about 3-10 to 1\)\. Fix: nothing in the settings reads "
            r"it; report the export id to Amazon",
            id="bomb",
        ),
        pytest.param(
            {"document_shape": "encrypted"},
            {},
            r"has an encrypted entry \S+\.xml \(the tap holds no password for it\)\. Fix: report "
            r"the export id to Amazon",
            id="encrypted",
        ),
        pytest.param(
            {"document_shape": "unsupported-method"},
            {},
            r"has entry \S+\.xml compressed with method 9 \(Deflate64\), which the tap does not "
            r"read \(it reads stored and deflated entries, whose unzipping it can bound\)\. Fix: "
            r"report the export id to Amazon",
            id="unsupported-method",
        ),
        pytest.param(
            {"document_shape": "non-utf8-name"},
            {},
            r"has an entry name marked as UTF-8 that is not UTF-8 \(bytes b'\\xe7a\.xml'\)\. "
            r"Fix: report the export id to Amazon",
            id="non-utf8-name",
        ),
        pytest.param(
            {"document_shape": "endless"},
            {"max_document_mb": 1},
            r"is longer than max_document_mb \(1 MB\): more than 1 MB \(the download was "
            r"stopped\)\. Fix: raise max_document_mb if documents this large are expected \(the "
            r"tap keeps one document at a time in a temporary file\)",
            id="endless-download",
        ),
        pytest.param(
            {},
            {"max_document_files": 3},
            r"holds more than max_document_files \(3\) files \(in its central directory\)\. Fix: "
            r"raise max_document_files if documents this large are expected \(the tap holds each "
            r"file's name, about 0\.5 KB, while it reads the ZIP\)",
            id="too-many-files",
        ),
    ],
)
def test_a_document_that_cannot_be_read_stops_the_run_with_one_line_after_the_state(
    emulator_factory, emulator, settings, problem
):
    # Every second document is broken: the one before it is written and marked done first.
    emu = emulator_factory(**INVOICES_EMULATOR, **emulator, document_shape_every=2)

    run = hostile_run(emu, **settings)

    line = one_error_line(run)
    documents = done_documents(emu)
    broken = next(d for d in documents if not emulator or api(emu).document_is_broken(d[1]))
    export_id, document_id = broken
    assert re.fullmatch(
        rf"getInvoicesDocument: invoices document {document_id} of export {export_id} {problem}",
        line,
    ), line
    before = documents[: documents.index(broken)]
    written = {r["invoicesDocumentId"] for r in run.records("invoice_documents")}
    # Files of the broken document read before the bad entry may be written (a bomb after
    # them): not marked done, they are written again, under the same keys, by the next run.
    assert {d for _, d in before} <= written <= {d for _, d in before} | {document_id}
    if before:  # the STATE of the documents completed before it is out; the next run tries it
        done = run.final_state["bookmarks"]["invoice_documents"]["done_document_ids"]
        assert done == [d for _, d in before]
    assert emulator == {} or before, "document_shape_every=2: the first document is whole"
