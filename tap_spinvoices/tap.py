"""The tap: settings, streams, the shared run state, and the command line."""

from __future__ import annotations

import logging
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError

from tap_spinvoices.bookmarks import read_bookmark
from tap_spinvoices.connection import ApiSession, SharedAuth, open_session
from tap_spinvoices.errors import ConfigError, SpinvoicesError, StateError
from tap_spinvoices.settings import Settings, config_jsonschema, parse_settings
from tap_spinvoices.streams import CustomerInvoicesStream
from tap_spinvoices.writer import OrjsonSingerWriter

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

STREAM_TYPES: tuple[type[Stream], ...] = (CustomerInvoicesStream,)


class TapSpinvoices(Tap):
    """Amazon SP-API invoices: Direct Fulfillment customer invoices and the Invoices API."""

    name = "tap-spinvoices"
    config_jsonschema: ClassVar[dict[str, Any]] = config_jsonschema
    message_writer_class = OrjsonSingerWriter

    _settings: Settings | None = None

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # Our checks first: they name the setting and the fix in one line. The SDK's JSON
        # schema check then catches wrong types in anything we do not read ourselves.
        if raise_errors:
            self._settings = parse_settings(dict(self.config))
        return super()._validate_config(raise_errors=raise_errors)

    @property
    def settings(self) -> Settings:
        """The checked settings (checked now if the tap was built without validation)."""
        if self._settings is None:
            self._settings = parse_settings(dict(self.config))
        return self._settings

    @property
    def shared_auth(self) -> SharedAuth:
        """Tokens and rate budgets that outlive one event loop (one per partition)."""
        if not hasattr(self, "_shared_auth"):
            self._shared_auth = SharedAuth()
        return self._shared_auth

    @asynccontextmanager
    async def open_session(self, default_region: str) -> AsyncIterator[ApiSession]:
        """An SP-API client for the running event loop, closed when the block ends."""
        settings = self.settings
        async with open_session(
            settings, self.shared_auth, settings.base_url(default_region)
        ) as session:
            yield session

    def load_state(self, state: dict[str, Any]) -> None:
        """Load the incoming state, refusing bookmarks that are not date-times."""
        if not isinstance(state, dict) or not isinstance(state.get("bookmarks", {}), dict):
            msg = (
                "State error: the state must be a JSON object like "
                '{"bookmarks": {...}}. Fix: pass the last STATE value the tap printed'
            )
            raise StateError(msg)
        for stream_name, stream_state in state.get("bookmarks", {}).items():
            if not isinstance(stream_state, dict):
                msg = f"State error in bookmarks.{stream_name}: not a JSON object"
                raise StateError(msg)
            read_bookmark(stream_state, f"bookmarks.{stream_name}")
            for partition in stream_state.get("partitions", []):
                read_bookmark(
                    partition, f"bookmarks.{stream_name} partition {partition.get('context')}"
                )
        super().load_state(state)

    def discover_streams(self) -> list[Stream]:
        """Every stream the tap offers."""
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]


def main() -> None:
    """Run the CLI; a user error becomes one log line and exit code 1, not a traceback."""
    try:
        TapSpinvoices.cli()
    except ConfigValidationError as exc:
        _fail(f"Config error: {'; '.join(exc.errors) or exc}. Fix the settings named above")
    except (ConfigError, SpinvoicesError) as exc:
        _fail(str(exc))


def _fail(line: str) -> None:
    logging.getLogger(TapSpinvoices.name).error(line)
    sys.exit(1)
