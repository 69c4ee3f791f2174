"""The tap with archive_url on the NF-e files of export documents: output and archive agree.

Acceptance of issue 19 for invoice_documents, on a local folder and on the S3 server: every
NF-e and event XML file is emitted once, with an archive_uri naming an object that holds
exactly its bytes as served in the ZIP; a second run over the same range, from scratch,
adds, rewrites and removes nothing; after SIGKILLs at seeded points of progress and resumes,
no record of any run names a missing object, every object is named by a record, and the
state never marks a document done whose files are not all stored.

Expectations are read from the emulator's files with the standard library (ElementTree),
never with the tap's own naming code: the day in a name is the day ``dhEmi`` (an event:
``dhEvento``) bears as written, the business id the access key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections import Counter
from datetime import date
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from spapi_emulator.config import DocumentShape
from tap_spinvoices.archive.naming import parse_object_name, unescape_identifier
from tests.archive.test_tap_archive import (
    assert_stopped_by_a_file_in_the_way,
    discovered_catalog,
    folder_archive,
    killed_then_finished,
    name_of,
    verify,
)
from tests.conftest import config_for
from tests.integration.test_invoices_api import END, INVOICES_EMULATOR, START
from tests.integration.test_nfe_documents import NFE, done_files
from tests.singer_run import run_tap

if TYPE_CHECKING:
    from spapi_emulator import EmulatorServer
    from tests.archive.conftest import ArchiveUnderTest
    from tests.integration.test_crash_resume import TapProcess

STREAM = "invoice_documents"
STREAMS = ("invoice_exports", STREAM)
DONE = "done_document_ids"


def archived_config(
    emu: EmulatorServer, archive: ArchiveUnderTest, **settings: Any
) -> dict[str, Any]:
    builder = config_for(emu).with_range(START, END)
    for name, value in (archive.settings() | settings).items():
        builder = builder.with_setting(name, value)
    return builder.build()


def expected_identity(data: bytes) -> tuple[str, date]:
    """(business id, day) of an emulator file, read with ElementTree."""
    root = ET.fromstring(data)  # noqa: S314 - the emulator's own document
    if root.tag == f"{NFE}procEventoNFe":
        info = root.find(f"{NFE}evento/{NFE}infEvento")
        assert info is not None
        fields = [info.findtext(f"{NFE}{n}") or "" for n in ("chNFe", "tpEvento", "nSeqEvento")]
        when = info.findtext(f"{NFE}dhEvento") or ""
        return "-".join(fields), date.fromisoformat(when[:10])
    info = root.find(f"{NFE}NFe/{NFE}infNFe")
    assert info is not None
    when = info.findtext(f"{NFE}ide/{NFE}dhEmi") or ""
    return info.get("Id", "").removeprefix("NFe"), date.fromisoformat(when[:10])


def served(emu: EmulatorServer) -> dict[tuple[str, str], bytes]:
    """(document id, entry name) -> bytes of every file of every DONE export's documents."""
    return {(document_id, name): data for document_id, name, data in done_files(emu)}


def assert_records_name_their_files(
    archive: ArchiveUnderTest, files: dict[tuple[str, str], bytes], records: list[dict[str, Any]]
) -> set[str]:
    """Every record names an object holding exactly its file's bytes; the names they use."""
    objects = archive.objects()
    names = set()
    for record in records:
        data = files[record["invoicesDocumentId"], record["file_name"]]
        name = name_of(archive, record)
        assert objects.get(name) == data, f"{record['file_name']}: {name} is not its file"
        parsed = parse_object_name(name)
        assert parsed is not None
        business_id, day = expected_identity(data)
        assert (unescape_identifier(parsed.business_id), parsed.day) == (business_id.encode(), day)
        assert (parsed.stream, parsed.extension) == (STREAM, "xml")
        assert record["xml_sha256"] == parsed.sha256_hex
        assert record["xml_bytes"] == len(data)
        names.add(name)
    return names


def test_every_nfe_file_is_archived_once_exactly_and_a_second_run_changes_nothing(
    emulator_factory, archive
):
    emu = emulator_factory(**INVOICES_EMULATOR)
    config = archived_config(emu, archive)

    first = run_tap(config, streams=STREAMS)

    assert first.returncode == 0, first.stderr[-2000:]
    files = served(emu)  # after the run: exports finish while it runs
    records = first.records(STREAM)
    assert Counter((r["invoicesDocumentId"], r["file_name"]) for r in records) == dict.fromkeys(
        files, 1
    )
    assert any(r["document_type"] == "procEventoNFe" for r in records)
    names = assert_records_name_their_files(archive, files, records)
    assert set(archive.objects()) == names  # nothing stored that no record names
    assert f"archive: {len(files)} XML files stored" in first.stderr

    before, versions = archive.objects(), archive.versions()
    second = run_tap(config, streams=STREAMS)  # from scratch: every document downloaded again

    assert second.returncode == 0, second.stderr[-2000:]
    again = {
        (r["invoicesDocumentId"], r["file_name"]): r["archive_uri"] for r in second.records(STREAM)
    }
    assert again == {(r["invoicesDocumentId"], r["file_name"]): r["archive_uri"] for r in records}
    assert archive.objects() == before
    assert archive.versions() == versions  # not one object rewritten
    assert "archive: 0 XML files stored (0.0 MB)" in second.stderr


def documents_printed(tap: TapProcess) -> int:
    return sum(m["type"] == "RECORD" and m["stream"] == STREAM for m in tap.messages)


def test_sigkills_at_seeded_points_and_resumes_never_leave_a_record_naming_a_missing_object(
    emulator_factory, archive, tmp_path
):
    # 30 files a document, stored 4 at a time: a kill by the count of records printed lands
    # in a document whose later pages are stored and not yet printed (the orphans to reuse).
    emu = emulator_factory(
        **INVOICES_EMULATOR | {"invoices_api_per_day": 30, "invoices_per_document": 30}
    )
    config = archived_config(emu, archive, archive_uploads_in_flight=4)
    rng = random.Random(f"document-archive-kill-{archive.kind}")  # noqa: S311 - seeded
    named: set[str] = set()
    printed: set[tuple[str, str]] = set()
    runs = killed_then_finished(
        emu,
        config,
        tmp_path,
        rng,
        most=90,
        # Held a few mints in: LWA, two pages of exports, then one mint a document.
        hold_after=lambda: rng.randint(4, 8),
        printed=documents_printed,
        streams=STREAMS,
    )
    for run in runs:
        files = served(emu)  # exports finish while the runs run
        records = run.records(STREAM)
        named |= assert_records_name_their_files(archive, files, records)
        printed |= {(r["invoicesDocumentId"], r["file_name"]) for r in records}
        stored = set(archive.objects().values())
        for done_state in run.states():
            # A document marked done has every one of its files stored.
            for document_id in done_state["bookmarks"].get(STREAM, {}).get(DONE, []):
                for (owner, name), data in files.items():
                    if owner == document_id:
                        assert data in stored, f"{document_id} marked done, {name} not stored"
    assert run.returncode == 0, run.stderr[-2000:]
    assert printed == set(files)
    # Orphans of the killed runs (stored, never printed) were named again by the next run.
    assert set(archive.objects()) == named


def test_a_permanent_store_error_stops_after_the_state_of_the_documents_stored(
    emulator_factory, tmp_path
):
    emu = emulator_factory(**INVOICES_EMULATOR)
    # A file where the folder of the latest day of the documents ready now belongs: that
    # day's files cannot be stored (ENOTDIR), every other day's can.
    days = {expected_identity(data)[1] for data in served(emu).values()}
    blocked = max(days)
    root = tmp_path / "archive"
    month = root / "default" / STREAM / f"{blocked:%Y}" / f"{blocked:%m}"
    month.mkdir(parents=True)
    (month / f"{blocked:%d}").write_text("in the way")
    config = config_for(emu).with_range(START, END).with_setting("archive_url", str(root))

    run = run_tap(config.build(), streams=STREAMS)

    assert_stopped_by_a_file_in_the_way(run, root)
    files = served(emu)
    done = run.final_state["bookmarks"][STREAM][DONE]
    assert done, "the documents before the blocked day's were stored and marked done"
    for (document_id, _), data in files.items():
        if expected_identity(data)[1] == blocked:
            assert document_id not in done
    for record in run.records(STREAM):
        assert (root / record["archive_uri"].removeprefix(root.as_uri() + "/")).is_file()


def test_with_the_archive_xml_is_not_selected_by_default_and_the_references_always_are(
    emulator_factory, tmp_path
):
    emu = emulator_factory(**INVOICES_EMULATOR)
    archive = folder_archive(tmp_path)
    config = archived_config(emu, archive)
    # archive_uri and xml_bytes are automatic: deselecting them changes nothing.
    deselected = ("archive_uri", "xml_bytes")
    catalog = discovered_catalog(config, tmp_path, STREAMS, deselected=deselected)

    run = run_tap(config, None, "--catalog", str(catalog), streams=None)

    assert run.returncode == 0, run.stderr[-2000:]
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == STREAM)
    assert "xml" not in schema["schema"]["properties"]
    assert "xml" not in schema["schema"].get("required", [])
    records = run.records(STREAM)
    assert records
    assert all("xml" not in r for r in records)
    assert all({"archive_uri", "xml_sha256", "xml_bytes", "accessKey"} <= set(r) for r in records)
    assert_records_name_their_files(archive, served(emu), records)


def test_verify_reads_back_the_nfe_files_too_and_reports_one_altered(emulator_factory, tmp_path):
    emu = emulator_factory(**INVOICES_EMULATOR)
    archive = folder_archive(tmp_path)
    config = archived_config(emu, archive)
    run = run_tap(config, streams=STREAMS)
    assert run.returncode == 0, run.stderr[-2000:]
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    count = len(run.records(STREAM))

    clean = verify("--config", str(config_path), "--stream", STREAM)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"Verified {count} objects" in clean.stdout

    tampered = sorted(archive.objects())[3]
    archive.overwrite(tampered, b"<nfeProc>forged</nfeProc>")
    found = verify("--config", str(config_path))
    assert found.returncode == 1
    mismatches = [line for line in found.stdout.splitlines() if line.startswith("MISMATCH")]
    forged = hashlib.sha256(b"<nfeProc>forged</nfeProc>").hexdigest()
    expected = f"MISMATCH {archive.uri(tampered)}: its 25 bytes have SHA-256 {forged}, "
    assert mismatches == [f"{expected}its name records {parse_object_name(tampered).sha256_hex}"]
    day = parse_object_name(tampered).day.isoformat()
    same_day = verify("--config", str(config_path), "--stream", STREAM, "--from", day, "--to", day)
    assert same_day.returncode == 1


def test_a_file_not_named_xml_is_archived_as_its_bytes_under_its_invoice_id(
    emulator_factory, archive
):
    emu = emulator_factory(**INVOICES_EMULATOR | {"document_shape": DocumentShape.NOT_XML})
    config = archived_config(emu, archive)

    run = run_tap(config, streams=(*STREAMS, f"{STREAM}.xml_base64"))

    assert run.returncode == 0, run.stderr[-2000:]
    records = run.records(STREAM)
    raw = [r for r in records if r["parse_status"] == "not_xml"]
    assert raw, "the emulator served README.txt and logo.png beside the XML files"
    objects = archive.objects()
    for record in records:
        data = objects[name_of(archive, record)]
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (
            record["xml_sha256"],
            record["xml_bytes"],
        )
    for record in raw:
        name = name_of(archive, record)
        assert record["content_is_base64"] is True
        assert objects[name] == base64.b64decode(record["xml_base64"])
        parsed = parse_object_name(name)
        assert parsed is not None
        assert parsed.extension == "bin"
        assert unescape_identifier(parsed.business_id) == record["invoiceId"].encode()
    assert set(objects) == {name_of(archive, r) for r in records}
