"""Every use of a singer-sdk name that is not public API, in one place.

singer-sdk marks with a leading underscore what it may change in any release (0.55 turned
``Stream.logger`` into a LoggerAdapter and added ``Tap._terminate()``). The tap needs a few
such names; they are used here and nowhere else, so an SDK upgrade breaks this module or
``tests/unit/test_sdk_compat.py``, whose contract tests name the SDK change they detect.
Where the SDK has a public way, the tap uses it instead (see docs/design-decisions.md).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Mapping

    from singer_sdk.helpers.types import Context, Record

T = TypeVar("T")

# The per-record path of singer-sdk that the page fast path (output/page_writer.py) skips:
# for each Stream method, every ``self.<name>`` it uses and every function it calls. Each
# name is either a step page_writer reproduces (dropping deselected properties, the record
# counter, the stream version, time_extracted, marking the state unflushed), a condition it
# checks before taking the fast path (stream maps, flattening, BATCH, the dry-run record
# limit, child streams, post_process, type conformance), or bookkeeping that does not change
# a RECORD's bytes (state, timers, logging). A name the SDK adds is a step nobody has
# checked yet: tests/unit/test_sdk_compat.py fails until it is reviewed and listed here.
SDK_PER_RECORD_PATH: Final[dict[str, frozenset[str]]] = {
    "_sync_records": frozenset(
        {
            "STATE_MSG_FREQUENCY",
            "_check_max_record_limit",  # ABORT_AT_RECORD_COUNT: page_writer checks it is None
            "_finalize_state",
            "_get_state_partition_context",
            "_increment_stream_state",  # BookmarkMovedByStream: a no-op (window ends move it)
            "_process_record",
            "_write_record_message",
            "_write_starting_replication_value",
            "_write_state_message",
            "copy",
            "enumerate",
            "get_context_state",
            "get_record_counter",  # WindowedStream hands the counter to page_writer
            "get_records",
            "get_sync_timer",
            "increment",  # the record counter
            "isinstance",
            "log_sort_error",
            "partitions",
            "post_process",  # page_writer checks it is not overridden
            "replication_method",  # 0.55: FULL_TABLE streams skip an empty partition state
            "selected",  # page_writer checks it
            "state_manager",
            "stream_state",
            "warn",
            "with_context",
        }
    ),
    "_process_record": frozenset(
        {
            "_sync_children",  # child streams: page_writer checks there are none
            "copy",
            "generate_child_contexts",
            "get_filter_result",  # stream maps' filters: page_writer checks for none
            "items",
            "stream_maps",
        }
    ),
    "_write_record_message": frozenset(
        {"_generate_record_messages", "_tap", "state_manager", "write_message"}
    ),
    "_generate_record_messages": frozenset(
        {
            "RecordMessage",
            "TYPE_CONFORMANCE_LEVEL",  # page_writer checks it is NONE
            "_stream_version",  # page_writer writes it (stream_version below)
            "conform_record_data_types",  # nothing to do at TypeConformanceLevel.NONE
            "effective_schema",
            "logger",
            "mask",  # page_writer drops deselected top-level properties itself
            "name",
            "pop_deselected_record_properties",
            "schema",
            "stream_maps",  # page_writer checks for the one identity map
            "transform",
            "utc_now",  # page_writer takes time_extracted once per page
        }
    ),
}


class ConfigCheckedTap(Tap):
    """A Tap whose own settings checks run before singer-sdk's JSON schema check.

    singer-sdk validates the config in ``PluginBase._validate_config``, called from
    ``__init__``; it has no public hook for a plugin's own checks. Subclasses implement
    ``check_settings`` (raise one clear error) and ``config_schema_error`` (turn the SDK's
    schema error into one).
    """

    def check_settings(self) -> None:
        """Check the config; raise an error that names the setting and the fix."""

    def config_schema_error(self, error: ConfigValidationError) -> Exception:
        """The error to raise for a JSON schema problem singer-sdk found."""
        return error

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        if raise_errors:
            self.check_settings()
        try:
            return super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            # The SDK would log each problem and a summary: two lines or more, in its words.
            raise self.config_schema_error(exc) from None


def stream_logger(stream: Stream) -> logging.Logger:
    """The ``logging.Logger`` behind ``stream.logger``, to add filters to.

    ``Stream.logger`` is a Logger up to singer-sdk 0.54 and a LoggerAdapter (which has no
    ``addFilter``) from 0.55 on; both are public, only their type changed.
    """
    logger: logging.Logger | logging.LoggerAdapter[Any] = stream.logger
    while isinstance(logger, logging.LoggerAdapter):
        logger = logger.logger
    return logger


def stream_version(stream: Stream) -> int | None:
    """The ``version`` the SDK writes into this stream's RECORD messages.

    Private (``Stream._stream_version``): set by the SDK for full-table streams that emit
    ACTIVATE_VERSION; the SDK has no public getter.
    """
    version: int | None = stream._stream_version  # noqa: SLF001
    return version


def mark_records_written(stream: Stream) -> None:
    """Tell the SDK that records were written since its last STATE message.

    The SDK sets ``state_manager.is_flushed = False`` after each RECORD it writes and writes
    a STATE at the end of a sync only when it is False. ``state_manager`` is public, but its
    class (``singer_sdk.streams._state.StreamStateManager``) and the flag are not.
    """
    stream.state_manager.is_flushed = False


def mark_state_written(stream: Stream) -> None:
    """Tell the SDK that the stream's current state was just written (see above)."""
    stream.state_manager.is_flushed = True


def cli_config(config: Any) -> tuple[dict[str, Any], bool]:  # noqa: ANN401 - the SDK's type
    """The merged config and the 'parse the environment' flag of the CLI's ``--config``.

    singer-sdk parses ``--config`` (files, or ``ENV``) into its private ``_ConfigInput``
    (fields ``config`` and ``parse_env``) and hands it to ``Tap.invoke``; the tap reads it to
    build itself for ``--check`` the way ``Tap.invoke`` does for a sync.
    """
    if config is None:
        return {}, False
    return dict(config.config), bool(config.parse_env)


class BookmarkMovedByStream(Stream):
    """A stream whose bookmark only its own code moves; singer-sdk leaves it alone.

    For an incremental stream singer-sdk sets the bookmark to each record's replication key
    value as it writes the record (``Stream._increment_stream_state``, private; with
    ``check_sorted`` off, even to an earlier value). WindowedStream moves its bookmark at
    window ends, once the window's records are all written (sync/bookmarks.py). Per record, the
    SDK's move would add nothing within a window (a record's ``window_start`` is the end of
    the window before) and would pull the bookmark back for records that belong to no window
    (the prelude's, which may come from any earlier window). The page fast path
    (output/page_writer.py) never called it; now the SDK's per-record path does not either.
    """

    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        del latest_record, context


class ChildHandOff(Generic[T]):
    """A typed value a parent stream hands its child streams through singer-sdk's child context.

    singer-sdk syncs a child stream once per context the parent's ``generate_child_contexts``
    yields for a record, and passes a shallow copy of that context to the child's
    ``preprocess_context`` and ``get_records``: a value in it reaches the child as the very
    object, typed, with no lookup of the parent and no timing. ``context``/``read`` put it in
    and take it out, checking its type.

    When the value is no field of the parent's record (invoice_documents hands over the NF-e
    rows of a document, which are no column of its own), the record carries it under ``key``
    to ``generate_child_contexts`` (``carry``/``take``). That relies on singer-sdk's private
    ``Stream._sync_records``: the dict ``get_records`` yielded (``post_process`` returns it
    unchanged) is what ``_process_record`` passes to ``generate_child_contexts``, and it is
    written (``_write_record_message``) only afterwards, so ``take`` removes the value before
    the SDK writes or batches the record. tests/unit/test_sdk_compat.py checks both.

    singer-sdk logs each child's context in its METRIC lines (``json.dumps(default=str)``), so
    the value's ``str`` should be a short summary; and it stores a context in the state unless
    the child's ``state_partitioning_keys`` leave ``key`` out (the NF-e streams keep none).
    """

    def __init__(self, key: str, kind: type[T]) -> None:
        """A hand-off of values of type ``kind`` under ``key`` of a child context."""
        self.key = key
        self.kind = kind

    def carry(self, record: Record, value: T) -> None:
        """Let ``record`` (about to be yielded) carry ``value`` to ``generate_child_contexts``."""
        record[self.key] = value

    def take(self, record: Record) -> T | None:
        """The value ``record`` carries, removed from it (None if it carries none)."""
        value = record.pop(self.key, None)
        return None if value is None else self._checked(value)

    def context(self, fields: Mapping[str, Any], value: T) -> dict[str, Any]:
        """A child context: the JSON ``fields`` people read in the logs, and ``value``."""
        return {**fields, self.key: value}

    def read(self, context: Mapping[str, Any]) -> T:
        """The value in a child context built by ``context``."""
        return self._checked(context.get(self.key))

    def _checked(self, value: object) -> T:
        if not isinstance(value, self.kind):
            msg = (
                f"child context {self.key!r} holds {type(value).__name__}, not {self.kind.__name__}"
            )
            raise TypeError(msg)
        return value
