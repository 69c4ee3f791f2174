"""What a stream needs from the running tap, as a Protocol: streams never import the tap.

The tap module imports the streams; if a stream imported the tap back (even only for type
checking), the layers would form a cycle. The tap hands each stream itself as a
``RunContext`` (``StreamWithRunContext.__init__``); mypy checks that it fits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextlib import AbstractAsyncContextManager

    from singer_sdk import Stream

    from tap_spinvoices.archive.archiver import Archive
    from tap_spinvoices.settings import Settings
    from tap_spinvoices.spapi.session import ApiConnection


class StateSink(Protocol):
    """singer-sdk's StateWriter: writes a STATE message unless it repeats the last one."""

    def write_state(self, state: Any) -> None:  # noqa: ANN401 - the SDK's TapState
        """Write ``state`` as a STATE message if it changed."""


class RunContext(Protocol):
    """The run a stream belongs to: checked settings, SP-API connections, Singer writers."""

    @property
    def settings(self) -> Settings:
        """The checked settings."""

    def open_connection(self, default_region: str) -> AbstractAsyncContextManager[ApiConnection]:
        """An SP-API connection for the running event loop, closed when the block ends."""

    @property
    def archive(self) -> Archive | None:
        """Where documents are stored before their records are written; None: no archive."""

    @property
    def archive_is_set(self) -> bool:
        """Whether archive_url is set (read without checking the settings, for discovery)."""

    @property
    def streams(self) -> Mapping[str, Stream]:
        """Every stream of the tap by name (for tools such as the connection check).

        Streams hand each other what they found through the SDK's child contexts
        (``sdk_compat.ChildHandOff``), never by looking one another up here.
        """

    @property
    def message_writer(self) -> object:
        """The writer of Singer messages (page_writer writes pages with it)."""

    @property
    def state_writer(self) -> StateSink:
        """The writer of STATE messages."""


@runtime_checkable
class ProvidesRunContext(Protocol):
    """A tap that can hand its streams a ``RunContext``."""

    def run_context(self) -> RunContext:
        """The context of this run."""
