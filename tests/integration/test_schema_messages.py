"""A run of every stream writes one SCHEMA message per stream, child streams included."""

from __future__ import annotations

from collections import Counter

from tests.conftest import config_for
from tests.integration.test_invoices_api import END, INVOICES_EMULATOR, START
from tests.singer_run import run_tap


def test_a_run_of_every_stream_writes_one_schema_per_stream(emulator_factory):
    emu = emulator_factory(**INVOICES_EMULATOR)
    run = run_tap(config_for(emu).with_range(START, END).build(), streams=None)

    assert run.returncode == 0, run.stderr
    records = [m for m in run.messages if m["type"] == "RECORD"]
    streams = {m["stream"] for m in records}
    assert streams == {
        "customer_invoices",
        "invoice_exports",
        "invoice_documents",
        "invoice_items",
        "invoice_events",
        "invoices",
    }
    # The SDK syncs invoice_documents once per DONE export, the NF-e streams once per document.
    assert len({r["record"]["exportId"] for r in records if r["stream"] == "invoice_documents"}) > 1
    assert (
        len({r["record"]["invoicesDocumentId"] for r in records if r["stream"] == "invoice_items"})
        > 1
    )
    schemas = Counter(m["stream"] for m in run.messages if m["type"] == "SCHEMA")
    assert schemas == dict.fromkeys(streams, 1)
    first_line = {}
    for number, message in enumerate(run.messages):
        first_line.setdefault((message["type"], message.get("stream")), number)
    for stream in streams:
        assert first_line[("SCHEMA", stream)] < first_line[("RECORD", stream)], stream
