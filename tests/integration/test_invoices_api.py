"""Invoices API streams against the emulator: exports, their documents, invoice search."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
from datetime import timedelta

import orjson

from tap_spinvoices.isotime import parse_datetime
from tap_spinvoices.streams.invoices_api import EXPORT_FIELDS
from tests.conftest import JumpingClock, config_for, emulator_on
from tests.singer_run import catalog_selecting, run_tap, tap_command, tap_env

# 600x: getInvoicesDocument allows 10 calls/s, exports finish in a fraction of a second.
INVOICES_EMULATOR = {"days": 12, "time_scale": 600.0, "invoices_api_per_day": 6}
START, END = "2024-01-01T00:00:00Z", "2024-01-13T00:00:00Z"
DAY_S = 86_400.0


def api(emu):
    return emu.invoices_api


def listed_exports(emu, start=START, end=END):
    upper = parse_datetime(end) - timedelta(microseconds=1)
    return api(emu).exports(parse_datetime(start), upper)


def test_every_export_in_range_appears_with_its_fields(emulator_factory):
    emu = emulator_factory(**INVOICES_EMULATOR)
    run = run_tap(config_for(emu).with_range(START, END).build(), streams=("invoice_exports",))

    assert run.returncode == 0, run.stderr
    expected = {view.export_id: view.to_json() for view in listed_exports(emu)}
    records = {r["exportId"]: r for r in run.records("invoice_exports")}
    assert len(expected) == 12
    assert records.keys() == expected.keys()
    for export_id, record in records.items():
        assert {f: record[f] for f in EXPORT_FIELDS} == {
            f: expected[export_id].get(f) for f in EXPORT_FIELDS
        }
        assert record["marketplaceId"] == "A2Q3Y263D00KWC"
    assert "DONE" in {r["status"] for r in records.values()}


def test_unfinished_export_is_emitted_again_when_done_on_the_next_run():
    # The two newest exports take a day of the emulator's clock to finish: a day it lives
    # through between the two runs, in one jump, however long the first run took.
    clock = JumpingClock()
    with emulator_on(
        clock, days=12, export_queue_seconds=0.0, export_processing_seconds=DAY_S
    ) as emu:
        config = config_for(emu).with_range(START, END).build()
        first = run_tap(config, streams=("invoice_exports",))
        clock.jump(DAY_S)
        second = run_tap(config, first.final_state, streams=("invoice_exports",))

    assert first.returncode == 0, first.stderr
    unfinished = {
        r["exportId"] for r in first.records("invoice_exports") if r["status"] != "DONE"
    } - {r["exportId"] for r in first.records("invoice_exports") if r["status"] == "ERROR"}
    assert len(unfinished) == 2
    state = first.final_state
    pending = state["bookmarks"]["invoice_exports"]["partitions"][0]["pending_exports"]
    assert set(pending) == unfinished

    assert second.returncode == 0, second.stderr
    again = {r["exportId"]: r for r in second.records("invoice_exports")}
    assert all(again[export_id]["status"] == "DONE" for export_id in unfinished)
    assert all(again[export_id]["invoicesDocumentIds"] for export_id in unfinished)
    final = second.final_state["bookmarks"]["invoice_exports"]["partitions"][0]
    assert final["pending_exports"] == {}
    assert final["replication_key_value"] == "2024-01-13T00:00:00+00:00"


def test_exports_followed_up_before_the_windows_never_move_the_bookmark_back():
    # The two unfinished exports belong to the range's last windows: followed up by the next
    # run (whose bookmark is the range's end) and DONE by then, they hand their documents to
    # invoice_documents, which writes a STATE for each document (600x: a document a 0.1 s).
    clock = JumpingClock()
    with emulator_on(
        clock,
        days=12,
        time_scale=600.0,
        export_queue_seconds=0.0,
        export_processing_seconds=DAY_S,
    ) as emu:
        config = config_for(emu).with_range(START, END).build()
        first = run_tap(config, streams=("invoice_exports",))
        clock.jump(DAY_S)
        second = run_tap(
            config, first.final_state, streams=("invoice_exports", "invoice_documents")
        )

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    incoming = first.final_state["bookmarks"]["invoice_exports"]["partitions"][0]
    followed_up = second.records("invoice_exports")[:2]
    assert {r["exportId"] for r in followed_up} == set(incoming["pending_exports"])
    assert all(r["window_start"] < incoming["replication_key_value"] for r in followed_up)
    assert second.records("invoice_documents")
    bookmarks = [
        state["bookmarks"]["invoice_exports"]["partitions"][0]["replication_key_value"]
        for state in second.states()
    ]
    assert len(bookmarks) > 2
    assert min(bookmarks) == incoming["replication_key_value"]


def test_every_xml_of_every_done_export_becomes_exactly_one_record(emulator_factory):
    emu = emulator_factory(**INVOICES_EMULATOR)
    run = run_tap(
        config_for(emu).with_range(START, END).build(),
        streams=("invoice_exports", "invoice_documents"),
    )

    assert run.returncode == 0, run.stderr
    documents = [
        document_id
        for view in listed_exports(emu)
        if view.status == "DONE"
        for document_id in view.document_ids
    ]
    expected = {
        name.removesuffix(".xml"): (document_id, hashlib.sha256(data).hexdigest())
        for document_id in documents
        for name, _, data in api(emu).document_files(document_id)
    }
    records = run.records("invoice_documents")
    assert len(records) == len(expected) > 0
    for record in records:
        document_id, digest = expected[record["invoiceId"]]
        assert record["invoicesDocumentId"] == document_id
        assert record["xml_sha256"] == digest
        assert hashlib.sha256(record["xml"].encode()).hexdigest() == digest
        assert record["xml_bytes"] == len(record["xml"].encode())
        assert record["file_name"] == f"{record['invoiceId']}.xml"
    done = run.final_state["bookmarks"]["invoice_documents"]["done_document_ids"]
    assert sorted(done) == sorted(documents)


def test_documents_are_not_downloaded_again_by_the_next_run(emulator_factory):
    emu = emulator_factory(**INVOICES_EMULATOR)
    config = config_for(emu).with_range(START, END).build()
    streams = ("invoice_exports", "invoice_documents")
    first = run_tap(config, streams=streams)
    calls = emu.stats()["operations"]["getInvoicesDocument"]["requests"]

    second = run_tap(config, first.final_state, streams=streams)

    assert second.returncode == 0, second.stderr
    assert second.records("invoice_documents") == []
    assert emu.stats()["operations"]["getInvoicesDocument"]["requests"] == calls


def test_expired_document_url_is_minted_again_not_fatal(emulator_factory):
    emu = emulator_factory(**INVOICES_EMULATOR)
    # A microsecond (0 is no valid lifetime): every URL has expired by its download.
    emu.reconfigure(document_url_ttl=1e-6)

    def heal_after_first_expiry() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            operations = emu.stats()["operations"]
            if operations.get("s3DownloadExpired", {}).get("requests"):
                emu.reconfigure(document_url_ttl=30.0)
                return
            time.sleep(0.01)

    healer = threading.Thread(target=heal_after_first_expiry, daemon=True)
    healer.start()
    run = run_tap(
        config_for(emu).with_range(START, "2024-01-03T00:00:00Z").build(),
        streams=("invoice_exports", "invoice_documents"),
    )
    healer.join(5)

    assert run.returncode == 0, run.stderr
    assert run.records("invoice_documents")
    assert "minting a new URL" in run.stderr


def create_exports_config(emu) -> dict:
    """Three days (Jan 10-12) with create_exports on, polling every second."""
    return (
        config_for(emu)
        .with_range("2024-01-10T00:00:00Z", "2024-01-13T00:00:00Z")
        .with_setting("create_exports", True)
        .with_setting("export_poll_seconds", 1)
        .build()
    )


def exports_created(emu) -> int:
    """createInvoicesExport calls that created an export (a throttled one, retried, did not)."""
    counters = emu.stats()["operations"]["createInvoicesExport"]
    return counters["requests"] - counters["throttled"]


def test_killed_run_with_create_exports_resumes_in_flight_exports(emulator_factory, tmp_path):
    # Exports take 30 real seconds to finish, so the first run is killed while polling.
    emu = emulator_factory(
        days=12, time_scale=60.0, export_queue_seconds=0.0, export_processing_seconds=1800.0
    )
    config = create_exports_config(emu)
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(catalog_selecting(("invoice_exports",))))
    command = tap_command(config, None, tmp_path, "--catalog", str(catalog))
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=tap_env()
    ) as proc:
        assert proc.stdout is not None
        last_state = None
        for line in proc.stdout:
            message = orjson.loads(line)
            if message["type"] == "STATE":
                last_state = message["value"]
                partition = last_state["bookmarks"].get("invoice_exports", {}).get("partitions")
                requests = partition[0].get("export_requests", {}) if partition else {}
                if len(requests.get("in_flight", {})) == 3:
                    proc.kill()
                    break
        proc.wait(10)
    assert last_state is not None
    in_flight = set(
        last_state["bookmarks"]["invoice_exports"]["partitions"][0]["export_requests"]["in_flight"]
    )
    assert exports_created(emu) == 3

    emu.reconfigure(export_processing_seconds=0.0)  # they are done by now
    second = run_tap(config, last_state, streams=("invoice_exports",))

    assert second.returncode == 0, second.stderr
    assert exports_created(emu) == 3
    done = {r["exportId"] for r in second.records("invoice_exports") if r["status"] == "DONE"}
    assert in_flight <= done
    requests = second.final_state["bookmarks"]["invoice_exports"]["partitions"][0][
        "export_requests"
    ]
    assert requests == {"in_flight": {}, "created_through": "2024-01-13T00:00:00+00:00"}


def test_export_in_error_is_reported_and_later_days_still_finish(emulator_factory):
    emu = emulator_factory(
        days=12,
        time_scale=600.0,
        export_error_predicate=lambda start, _end: start.day == 10,
    )
    config = create_exports_config(emu)
    run = run_tap(config, streams=("invoice_exports",))

    assert run.returncode == 0, run.stderr
    day = timedelta(days=1)
    created = [
        r
        for r in run.records("invoice_exports")
        if parse_datetime(r["window_end"]) - parse_datetime(r["window_start"]) == day
    ]
    by_day = {r["window_start"][:10]: r for r in created}
    assert len(by_day) == 3
    assert by_day["2024-01-10"]["status"] == "ERROR"
    assert by_day["2024-01-10"]["errorMessage"]
    assert by_day["2024-01-11"]["status"] == "DONE"
    assert by_day["2024-01-12"]["status"] == "DONE"
    assert "ended in ERROR" in run.stderr


def test_invoices_bookmark_resumes_where_the_last_run_ended(emulator_factory):
    emu = emulator_factory(**INVOICES_EMULATOR)
    middle = "2024-01-06T00:00:00Z"
    first = run_tap(config_for(emu).with_range(START, middle).build(), streams=("invoices",))
    second = run_tap(
        config_for(emu).with_range(START, END).build(), first.final_state, streams=("invoices",)
    )

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    upper = parse_datetime(END) - timedelta(microseconds=1)
    expected = {i.id for i in api(emu).invoices(parse_datetime(START), upper)}
    assert {r["id"] for r in first.records("invoices") + second.records("invoices")} == expected
    assert min(r["date"] for r in second.records("invoices")) >= "2024-01-06"
    partition = second.final_state["bookmarks"]["invoices"]["partitions"][0]
    assert partition["replication_key_value"] == "2024-01-13T00:00:00+00:00"
