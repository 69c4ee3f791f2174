"""The parent/child streams: what each child is handed, and that it never lands in the state."""

from __future__ import annotations

from datetime import date

import pytest

from tap_spinvoices.streams.invoice_documents import NFE_ROWS, DocumentNfeRows
from tap_spinvoices.streams.invoice_exports import DONE_EXPORT, DoneExport
from tap_spinvoices.tap import STREAM_TYPES


@pytest.mark.parametrize(
    "stream_type",
    [t for t in STREAM_TYPES if t.parent_stream_type is not None],
    ids=lambda t: t.name,
)
def test_a_child_stream_keeps_its_context_out_of_the_state(stream_type):
    # The SDK stores a child's context in the state unless its partitioning keys leave it
    # out; the contexts hold the parents' hand-offs, which are no JSON.
    assert stream_type.state_partitioning_keys == []


def test_the_hand_offs_read_back_as_written_and_log_as_a_summary():
    export = DoneExport("exp-1", "A2Q3Y263D00KWC", ("doc-1", "doc-2"), date(2024, 1, 5))
    context = DONE_EXPORT.context({"exportId": "exp-1"}, export)
    assert DONE_EXPORT.read(context) is export
    assert str(export) == "documents=2"

    rows = DocumentNfeRows("doc-1", [{"nItem": 1}, {"nItem": 2}], [{"tpEvento": "110111"}])
    record = {"invoiceId": "i-1"}
    NFE_ROWS.carry(record, rows)
    assert NFE_ROWS.take(record) is rows
    assert record == {"invoiceId": "i-1"}
    assert NFE_ROWS.take(record) is None
    assert str(rows) == "items=2 events=1"
