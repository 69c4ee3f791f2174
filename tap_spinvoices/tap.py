"""The tap: settings, streams, the shared run state, and the command line.

Exit codes: 0 when every selected window was synced; 1 for an error (one log line naming
what to fix, see errors.py); 128 + the signal number (143 for SIGTERM, 130 for SIGINT) when
the run was interrupted. An interrupted run writes the STATE of the windows it completed
first, but it is not a success: the windows after that STATE were not synced, and a
scheduler must not record the night's run as done.
"""

from __future__ import annotations

import atexit
import gc
import io
import json
import logging
import os
import signal
import sys
import threading
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, ClassVar

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib import StateMessage
from typing_extensions import override

from tap_spinvoices.account import declared_keys, keys_with_account
from tap_spinvoices.archive import open_archive
from tap_spinvoices.check import CHECK_OPTION, run_check
from tap_spinvoices.errors import (
    CatalogError,
    ConfigError,
    OutputClosedError,
    SpinvoicesError,
    StateError,
)
from tap_spinvoices.logs import apply_metrics_level, drop_expected_failure_lines, quiet_start_up
from tap_spinvoices.output.schema_once import SchemaOnceWriter
from tap_spinvoices.output.writer import OrjsonSingerWriter
from tap_spinvoices.process_exit import run_and_exit
from tap_spinvoices.sdk_compat import ConfigCheckedTap, cli_config, stream_logger
from tap_spinvoices.settings import Settings, archive_is_set, parse_settings
from tap_spinvoices.settings_declaration import json_schema
from tap_spinvoices.spapi.session import ApiConnection, TokensAndBudgets, open_connection
from tap_spinvoices.streams import (
    CustomerInvoicesStream,
    InvoiceDocumentsStream,
    InvoiceEventsStream,
    InvoiceExportsStream,
    InvoiceItemsStream,
    InvoicesStream,
)
from tap_spinvoices.sync.bookmarks import read_bookmark, refuse_future_bookmark

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from types import FrameType

    import click
    from singer_sdk import Stream

    from tap_spinvoices.archive.archiver import Archive
    from tap_spinvoices.sync.run_context import RunContext

STREAM_TYPES: tuple[type[Stream], ...] = (
    CustomerInvoicesStream,
    InvoiceExportsStream,
    InvoiceDocumentsStream,
    InvoiceItemsStream,
    InvoiceEventsStream,
    InvoicesStream,
)

_STATE_FIX = "Fix: pass the last STATE value the tap printed, or no --state for a full sync"
_CATALOG_FIX = "Fix: write a new one with --discover and select streams in it"
# Longest --state or --catalog file read, in characters. The tap's own state holds a bookmark
# per partition and at most 5,000 document ids (well under 1 MB), its catalog about 60 KB;
# a state is also written back in every STATE message, so a huge one is refused, not echoed.
MAX_INPUT_FILE_CHARS = 8 << 20


class TapSpinvoices(ConfigCheckedTap):
    """Amazon SP-API invoices: Direct Fulfillment customer invoices and the Invoices API."""

    name = "tap-spinvoices"
    config_jsonschema: ClassVar[dict[str, Any]] = json_schema()
    message_writer_class = SchemaOnceWriter

    _settings: Settings | None = None
    _archive: Archive | None = None

    @override
    def __init__(self, **kwargs: Any) -> None:
        """Build the tap; SIGTERM and SIGINT then stop it as ``on_termination_signal`` says."""
        quiet_start_up(logging.getLogger(self.name))
        super().__init__(**kwargs)
        if self._settings is not None:  # checked: the config was validated
            apply_metrics_level(self._settings.metrics_log_level)
        # The SDK installs its own handlers in its __init__ (main thread only); ours replace
        # them through the public signal API instead of overriding a private SDK method.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self.on_termination_signal)
            signal.signal(signal.SIGTERM, self.on_termination_signal)

    @override
    def check_settings(self) -> None:
        """Our checks run first: they name the setting and the fix in one line.

        The SDK's JSON schema check then catches wrong types in anything we do not read.
        The archive's store is opened here too (no I/O), so its options are checked before
        any request.
        """
        self._settings = parse_settings(dict(self.config))
        _ = self.archive

    @override
    def config_schema_error(self, error: ConfigValidationError) -> Exception:
        """The SDK's first JSON schema problem as one line naming the setting."""
        return _schema_error(error)

    def run_context(self) -> RunContext:
        """What the streams use of the tap: settings, connections, writers (no import cycle)."""
        return self

    @property
    def settings(self) -> Settings:
        """The checked settings (checked now if the tap was built without validation)."""
        if self._settings is None:
            self._settings = parse_settings(dict(self.config))
        return self._settings

    @property
    def archive(self) -> Archive | None:
        """The document archive of this run (archive_url), or None when it is unset."""
        settings = self.settings
        if self._archive is None and settings.archive is not None:
            self._archive = open_archive(settings.archive, settings.account_id)
            atexit.register(self._release_archive)
            location = settings.archive.location
            encryption = settings.archive.server_side_encryption
            self.logger.info(
                "Archive: every customer invoice PDF is stored under %s before its record%s",
                location.uri("").rstrip("/"),
                f" (server-side encryption {encryption})" if encryption else "",
            )
        return self._archive

    def _release_archive(self) -> None:
        """At exit: close the archive and free obstore's objects while the interpreter is whole.

        Freed during the interpreter's shutdown instead, obstore's runtime threads sometimes
        abort the process after its last line (SIGABRT, exit -6: 1 run in 40 here), which a
        scheduler would count as a failed run.
        """
        archive, self._archive = self._archive, None
        if archive is not None:
            archive.close()
        gc.collect()

    @property
    def archive_is_set(self) -> bool:
        """Whether archive_url is set (for discovery, which needs no valid settings)."""
        return archive_is_set(dict(self.config))

    @property
    def tokens_and_budgets(self) -> TokensAndBudgets:
        """Tokens and rate budgets that outlive one event loop (one per partition)."""
        if not hasattr(self, "_tokens_and_budgets"):
            self._tokens_and_budgets = TokensAndBudgets()
        return self._tokens_and_budgets

    @asynccontextmanager
    async def open_connection(self, default_region: str) -> AsyncIterator[ApiConnection]:
        """An SP-API connection for the running event loop, closed when the block ends."""
        settings = self.settings
        async with open_connection(
            settings, self.tokens_and_budgets, settings.base_url(default_region)
        ) as connection:
            yield connection

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """Load the incoming state, refusing bookmarks that are not date-times."""
        if not isinstance(state, dict) or not isinstance(state.get("bookmarks", {}), dict):
            msg = 'State error: the state must be a JSON object like {"bookmarks": {...}}. '
            msg += _STATE_FIX
            raise StateError(msg)
        now = datetime.now(UTC)
        for stream_name, stream_state in state.get("bookmarks", {}).items():
            is_object = isinstance(stream_state, dict)
            partitions = stream_state.get("partitions", []) if is_object else None
            if not isinstance(partitions, list) or not all(isinstance(p, dict) for p in partitions):
                msg = (
                    f"State error in bookmarks.{stream_name}: expected an object like "
                    '{"replication_key_value": ...} or {"partitions": [{...}]}. ' + _STATE_FIX
                )
                raise StateError(msg)
            _check_bookmark(stream_state, f"bookmarks.{stream_name}", now)
            for partition in partitions:
                where = f"bookmarks.{stream_name} partition {partition.get('context')}"
                _check_bookmark(partition, where, now)
        super().load_state(state)

    @override
    def discover_streams(self) -> list[Stream]:
        """Every stream the tap offers."""
        streams = [stream_type(tap=self) for stream_type in STREAM_TYPES]
        for stream in streams:
            drop_expected_failure_lines(stream_logger(stream))
            # Many accounts share the tables: every key says whose the row is (account.py).
            stream.primary_keys = keys_with_account(list(stream.primary_keys or []))
        return streams

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """The SDK's command line, plus --check."""
        command = super().get_singer_command()
        command.params.append(CHECK_OPTION)
        return command

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,  # the SDK types it with its private _ConfigInput: passed on as is
        state: IO[str] | None = None,
        catalog: IO[str] | None = None,
        check: bool = False,
    ) -> None:
        """Run the tap; an unusable --state or --catalog file is one clear line, not a trace."""
        if check:  # --check (check.py): one small call per selected stream, no sync
            catalog_file = _checked_catalog_file(catalog)
            values, parse_env = cli_config(config)
            tap = cls(
                config=values,
                catalog=None if catalog_file is None else json.load(catalog_file),
                parse_env_config=parse_env,
            )
            sys.exit(run_check(tap))
        super().invoke(
            about=about,
            about_format=about_format,
            config=config,
            state=_checked_state_file(state),
            catalog=_checked_catalog_file(catalog),
        )

    def on_termination_signal(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        """On SIGTERM/SIGINT: write the STATE of the completed windows, then exit 128 + signum.

        Unlike the SDK's handler, the STATE is written even when it did not change, so it is
        the last line after any RECORD still buffered; and the exit code is not 0, because the
        windows after that STATE were never fetched and a scheduler must not count the run
        as complete. The bookmark in ``self.state`` only ever points at the end of a window
        whose records (and every earlier window's) were already written.
        """
        writer = self.message_writer
        if isinstance(writer, OrjsonSingerWriter):
            writer.call_when_idle(lambda: self._exit_interrupted(signum))
        else:
            self._exit_interrupted(signum)

    def _exit_interrupted(self, signum: int) -> None:
        code = 128 + signum
        try:
            self.write_message(StateMessage(value=self.state))
        finally:
            self.logger.warning(
                "Interrupted by %s: wrote the STATE of the completed windows; exit code %d. "
                "Run again with that STATE to resume",
                signal.Signals(signum).name,
                code,
            )
            sys.exit(code)


def main() -> None:
    """Run the CLI, then leave without the interpreter's teardown (process_exit.py)."""
    run_and_exit(_run_cli)


def _run_cli() -> None:
    """Run the CLI; a user error becomes one log line and exit code 1, not a traceback."""
    try:
        TapSpinvoices.cli()
    except ConfigValidationError as exc:
        _fail(f"Config error: {'; '.join(exc.errors) or exc}. Fix the settings named above")
    except OutputClosedError as exc:
        _silence_stdout()
        _fail(str(exc))
    except (ConfigError, SpinvoicesError) as exc:
        _fail(str(exc))


def _silence_stdout() -> None:
    """Point the closed stdout at /dev/null: nothing after the one line.

    The interpreter flushes what is still buffered in ``sys.stdout`` at exit; into the
    closed pipe that would print a second BrokenPipeError ("Exception ignored in: <stdout>").
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _fail(line: str) -> None:
    logging.getLogger(TapSpinvoices.name).error(line)
    sys.exit(1)


def _schema_error(exc: ConfigValidationError) -> ConfigError:
    """The first JSON-schema problem (``"<problem> in config['<setting>']"``) as one line."""
    first = exc.errors[0] if exc.errors else str(exc)
    problem, _, where = first.partition(" in config[")
    setting = where.split("]", 1)[0].strip("'\"") or "config"
    return ConfigError(setting, problem, f"give {setting} a value of the type --about lists")


def _check_bookmark(partition_state: dict[str, Any], where: str, now: datetime) -> None:
    """A bookmark, if there is one, is a date-time and no later than now."""
    bookmark = read_bookmark(partition_state, where)
    if bookmark is not None:
        refuse_future_bookmark(bookmark, now, where)


def _json_file(file: IO[str], error: type[SpinvoicesError], what: str, fix: str) -> tuple[str, Any]:
    """The text and the parsed value of a --state/--catalog file, or one clear error line."""
    text = file.read(MAX_INPUT_FILE_CHARS + 1)
    if len(text) > MAX_INPUT_FILE_CHARS:
        msg = (
            f"{what.capitalize()} error: the --{what} file is longer than "
            f"{MAX_INPUT_FILE_CHARS >> 20} MB, far more than this tap ever writes (under 1 MB). "
            f"{fix}"
        )
        raise error(msg)
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as exc:
        msg = (
            f"{what.capitalize()} error: the --{what} file is not JSON ({exc.msg} at line "
            f"{exc.lineno} column {exc.colno}). {fix}"
        )
        raise error(msg) from None


def _checked_state_file(state: IO[str] | None) -> IO[str] | None:
    """The --state file, re-readable, once it is known to hold a JSON object."""
    if state is None:
        return None
    text, value = _json_file(state, StateError, "state", _STATE_FIX)
    if not isinstance(value, dict):
        msg = (
            'State error: the --state file is not a JSON object like {"bookmarks": {...}}. '
            + _STATE_FIX
        )
        raise StateError(msg)
    return io.StringIO(text)


def _checked_catalog_file(catalog: IO[str] | None) -> IO[str] | None:
    """The --catalog file, re-readable, once it is known to be a JSON catalog."""
    if catalog is None:
        return None
    text, value = _json_file(catalog, CatalogError, "catalog", _CATALOG_FIX)
    entries = value.get("streams") if isinstance(value, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        msg = (
            "Catalog error: the --catalog file is not a Singer catalog "
            f'(an object with a "streams" list of objects). {_CATALOG_FIX}'
        )
        raise CatalogError(msg)
    # Stream classes set ``name`` as a class attribute; the SDK types it per instance.
    known = {str(getattr(stream_type, "name")): stream_type for stream_type in STREAM_TYPES}  # noqa: B009
    for entry in entries:
        stream_id = entry.get("tap_stream_id")
        if stream_id not in known:
            msg = (
                f"Catalog error: stream {stream_id!r} in --catalog is not a stream of "
                f"{TapSpinvoices.name} (it has: {', '.join(known)}). {_CATALOG_FIX}"
            )
            raise CatalogError(msg)
        _check_catalog_keys(entry, keys_with_account(declared_keys(known[stream_id])))
    return io.StringIO(text)


def _check_catalog_keys(entry: dict[str, Any], keys: list[str]) -> None:
    """The catalog's key properties are the stream's own, in any order.

    The SDK takes them from ``key_properties``, else from the stream's
    ``table-key-properties`` metadata; the target upserts on them, and the tap's
    de-duplication relies on them meaning what they mean in discovery.
    """
    stream_metadata = next(
        (m.get("metadata") for m in entry.get("metadata") or [] if m.get("breadcrumb") == []),
        None,
    )
    table_keys = stream_metadata.get("table-key-properties") if stream_metadata else None
    given = entry.get("key_properties") or table_keys or []
    if (
        isinstance(given, list)
        and sorted(map(str, given)) == sorted(keys)
        and len(given) == len(keys)
    ):
        return
    msg = (
        f"Catalog error: stream {entry.get('tap_stream_id')!r} has key_properties "
        f"{json.dumps(given)} in --catalog, but its records are keyed by {json.dumps(keys)} "
        "(in any order): targets upsert on them and the tap de-duplicates by them. Fix: "
        "restore them as --discover writes them, or write a new catalog with --discover"
    )
    raise CatalogError(msg)
