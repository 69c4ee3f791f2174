"""RecordPageWriter: pages go straight to the writer only when the SDK would write the same."""

from __future__ import annotations

import datetime as dt
import io
import sys
from typing import Any

import orjson
import pytest
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import Catalog
from singer_sdk.singerlib.encoding.simple import RecordMessage, SimpleSingerWriter

from tap_spinvoices.output.page_writer import RecordPageWriter
from tap_spinvoices.sdk_compat import stream_version
from tap_spinvoices.streams import CustomerInvoicesStream
from tap_spinvoices.tap import TapSpinvoices
from tests.builders import ConfigBuilder
from tests.parse_equal import read_lines
from tests.singer_run import catalog_selecting

STREAM = "customer_invoices"


def tap_with(
    settings: dict[str, Any] | None = None, catalog: dict[str, Any] | None = None
) -> TapSpinvoices:
    config = ConfigBuilder()
    for name, value in (settings or {}).items():
        config.with_setting(name, value)
    return TapSpinvoices(config=config.build(), catalog=catalog, validate_config=False)


def deselect(catalog: dict[str, Any], stream: str, *breadcrumb: str) -> dict[str, Any]:
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == stream:
            for metadata in entry["metadata"]:
                if tuple(metadata["breadcrumb"]) == breadcrumb:
                    metadata["metadata"]["selected"] = False
    return catalog


def decide(tap: TapSpinvoices, stream: str = STREAM) -> RecordPageWriter | str:
    return RecordPageWriter.for_stream(tap.streams[stream], tap.message_writer, lambda _: None)


class ConformingStream(CustomerInvoicesStream):
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY


class PostProcessingStream(CustomerInvoicesStream):
    def post_process(self, row: dict[str, Any], context: Any = None) -> dict[str, Any] | None:
        del context
        return row


def test_default_run_writes_pages_directly_without_the_unselected_digests_and_archive_uri():
    direct = decide(tap_with())
    assert isinstance(direct, RecordPageWriter)
    assert set(direct._deselected) == {"content_sha256", "content_bytes", "archive_uri"}


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"stream_maps": {STREAM: {}}}, "stream maps or flattening are configured"),
        (
            {"stream_maps": {"copy": {"__source__": STREAM}}},
            "stream maps or flattening are configured",
        ),
        (
            {"stream_maps": {STREAM: {"__alias__": "invoices_pdf"}}},
            "stream maps or flattening are configured",
        ),
        (
            {"flattening_enabled": True, "flattening_max_depth": 1},
            "stream maps or flattening are configured",
        ),
        (
            {"batch_config": {"encoding": {"format": "jsonl"}, "storage": {"root": "file://"}}},
            "BATCH messages are configured",
        ),
    ],
    ids=["empty-map", "second-map", "alias", "flattening", "batch"],
)
def test_settings_that_change_records_or_messages_keep_the_sdk_path(settings, reason):
    assert decide(tap_with(settings)) == reason


def test_a_dry_run_record_limit_keeps_the_sdk_path():
    tap = tap_with()
    tap.streams[STREAM].ABORT_AT_RECORD_COUNT = 1
    assert decide(tap) == "a dry-run record limit is set"


def test_an_unselected_stream_or_a_parent_stream_keeps_the_sdk_path():
    tap = tap_with(catalog=catalog_selecting(("invoices",)))
    assert decide(tap) == "the stream is not selected"
    assert decide(tap_with(), "invoice_exports") == "the stream has child streams"


def test_nested_deselection_keeps_the_sdk_path_top_level_is_dropped_directly():
    catalog = deselect(catalog_selecting(("invoices",)), "invoices", "properties", "series")
    direct = decide(tap_with(catalog=catalog), "invoices")
    assert isinstance(direct, RecordPageWriter)
    assert direct._deselected == ("series",)

    # The SDK lists no breadcrumbs inside arrays, but a hand-written catalog may.
    catalog = catalog_selecting(("invoices",))
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == "invoices")
    nested = ["properties", "transactionIds", "items", "properties", "id"]
    entry["metadata"].append({"breadcrumb": nested, "metadata": {"selected": False}})
    assert decide(tap_with(catalog=catalog), "invoices") == "nested properties are deselected"


def test_another_writer_conformance_or_post_processing_keep_the_sdk_path():
    tap = tap_with()
    assert (
        RecordPageWriter.for_stream(tap.streams[STREAM], SimpleSingerWriter(), lambda _: None)
        == "another message writer is in use"
    )
    assert (
        RecordPageWriter.for_stream(ConformingStream(tap), tap.message_writer, lambda _: None)
        == "records are type-conformed"
    )
    assert (
        RecordPageWriter.for_stream(PostProcessingStream(tap), tap.message_writer, print)
        == "the stream post-processes records"
    )


def test_write_drops_deselected_properties_counts_and_dirties_the_state(monkeypatch):
    catalog = deselect(catalog_selecting((STREAM,)), STREAM, "properties", "content")
    tap = tap_with(catalog=catalog)
    stream = tap.streams[STREAM]
    counted: list[int] = []
    direct = RecordPageWriter.for_stream(stream, tap.message_writer, counted.append)
    assert isinstance(direct, RecordPageWriter)
    stream.state_manager.is_flushed = True
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))

    direct.write(
        [{"purchaseOrderNumber": "PO1", "content": "JVBE"}, {"purchaseOrderNumber": "PO2"}]
    )
    direct.write([])

    messages = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [m["record"] for m in messages] == [
        {"purchaseOrderNumber": "PO1"},
        {"purchaseOrderNumber": "PO2"},
    ]
    assert {m["stream"] for m in messages} == {STREAM}
    assert all(m["time_extracted"].endswith("+00:00") for m in messages)
    assert counted == [2]
    assert stream.state_manager.is_flushed is False


def test_a_page_reads_as_the_sdk_default_writer_would_write_its_records(monkeypatch):
    tap = tap_with()
    stream = tap.streams[STREAM]
    direct = RecordPageWriter.for_stream(stream, tap.message_writer, lambda _: None)
    assert isinstance(direct, RecordPageWriter)
    records = [
        {"purchaseOrderNumber": "PO-São-1", "content": "JVBE", "ship_from_party_id": None},
        {"purchaseOrderNumber": "PO2", "content": "\u2028😀\x7f", "account_id": "default"},
    ]
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))

    direct.write([dict(record) for record in records])

    sys.stdout.flush()
    written = out.getvalue()
    extracted = dt.datetime.fromisoformat(orjson.loads(written.splitlines()[0])["time_extracted"])
    sdk = SimpleSingerWriter()
    expected = b"".join(
        (
            sdk.format_message(
                RecordMessage(
                    STREAM, record, version=stream_version(stream), time_extracted=extracted
                )
            )
            + "\n"
        ).encode()
        for record in records
    )
    assert read_lines(written) == read_lines(expected)


def test_catalog_metadata_leaves_the_digests_unselected_by_default():
    metadata = Catalog.from_dict(catalog_selecting((STREAM,))).get_stream(STREAM).metadata
    assert metadata[("properties", "content_sha256")].selected_by_default is False
    assert metadata[("properties", "content_bytes")].selected_by_default is False
    assert metadata[("properties", "content")].selected_by_default is None
