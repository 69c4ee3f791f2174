"""One SCHEMA message per stream per run, unless the stream's schema changes.

singer-sdk writes a stream's SCHEMA at the start of each of its syncs, and syncs a child
stream once per parent record that has children: invoice_documents once per DONE export,
invoice_items and invoice_events once per export document. A target that flushes its batch
on every SCHEMA then writes many small batches (and a target that loses a row per batch
loses many). Repeating an unchanged SCHEMA tells a target nothing, so it is written once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk.singerlib import SchemaMessage
from typing_extensions import override

from tap_spinvoices.output.writer import OrjsonSingerWriter

if TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message


class SchemaOnceWriter(OrjsonSingerWriter):
    """The tap's writer; a SCHEMA equal to the last one written for its stream is dropped."""

    def __init__(self) -> None:
        """Start with no SCHEMA written."""
        super().__init__()
        self._schemas: dict[str, dict[str, Any]] = {}

    @override
    def write_message(self, message: Message) -> None:
        """Write ``message``, unless it is a SCHEMA that repeats its stream's last one."""
        if isinstance(message, SchemaMessage):
            schema = message.to_dict()
            if self._schemas.get(message.stream) == schema:
                return
            self._schemas[message.stream] = schema
        super().write_message(message)
