"""SchemaOnceWriter: one SCHEMA per stream, unless the stream's schema changes."""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING, Any

import orjson
from singer_sdk.singerlib import RecordMessage, SchemaMessage, StateMessage

from tap_spinvoices.output.schema_once import SchemaOnceWriter
from tap_spinvoices.tap import TapSpinvoices

if TYPE_CHECKING:
    import pytest

ITEMS = {"type": "object", "properties": {"nItem": {"type": "integer"}}}
WIDER = {"type": "object", "properties": {"nItem": {"type": "integer"}, "x": {"type": "string"}}}


def written(monkeypatch: pytest.MonkeyPatch, *messages: Any) -> list[dict[str, Any]]:
    """What the writer writes for ``messages``, parsed."""
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
    writer = SchemaOnceWriter()
    for message in messages:
        writer.write_message(message)
    sys.stdout.flush()
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def schema(stream: str, properties: dict[str, Any] = ITEMS) -> SchemaMessage:
    return SchemaMessage(stream, properties, ["nItem"])


def test_a_repeated_schema_is_written_once(monkeypatch):
    lines = written(
        monkeypatch,
        schema("invoice_items"),
        RecordMessage("invoice_items", {"nItem": 1}),
        schema("invoice_items"),
        RecordMessage("invoice_items", {"nItem": 2}),
        StateMessage({"bookmarks": {}}),
        schema("invoice_items"),
    )
    assert [line["type"] for line in lines] == ["SCHEMA", "RECORD", "RECORD", "STATE"]


def test_a_changed_schema_is_written_again_and_streams_are_apart(monkeypatch):
    lines = written(
        monkeypatch,
        schema("invoice_items"),
        schema("invoice_events"),
        schema("invoice_items", WIDER),
        schema("invoice_items", WIDER),
        schema("invoice_items"),
    )
    assert [(line["stream"], line["schema"]) for line in lines] == [
        ("invoice_items", ITEMS),
        ("invoice_events", ITEMS),
        ("invoice_items", WIDER),
        ("invoice_items", ITEMS),
    ]


def test_the_tap_writes_with_it():
    assert TapSpinvoices.message_writer_class is SchemaOnceWriter
