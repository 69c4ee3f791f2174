"""ApiStream: a stream whose records come from SP-API calls made on the I/O thread.

Every such stream has the same shape: a coroutine holding one SP-API connection delivers
events (sync/events.py) on the I/O thread; on the SDK's thread one loop,
``ApiStream.write_events``, reads them in order, writes the records, applies state changes
and writes a STATE message when a part is done. This module holds that shape once; a stream
says what to fetch and, in an ``EventReader``, what its pages and part ends mean.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, assert_never

from singer_sdk import Stream
from typing_extensions import override

from tap_spinvoices.account import ACCOUNT_ID
from tap_spinvoices.sdk_compat import mark_state_written
from tap_spinvoices.sync.events import Page, PartDone, PreludeDone, PreludeRecords, StateChange
from tap_spinvoices.sync.run_context import ProvidesRunContext, RunContext
from tap_spinvoices.sync.thread_bridge import items_from_io_thread

T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Iterator

    from singer_sdk import Tap

    from tap_spinvoices.output.page_writer import RecordPageWriter
    from tap_spinvoices.spapi.session import ApiConnection

    # A coroutine that fetches with the connection and hands each event to its second argument.
    FetchWork = Callable[[ApiConnection, Callable[[T], Awaitable[None]]], Coroutine[Any, Any, None]]

# Every event a stream's fetching may deliver (sync/events.py).
StreamEvent = Page[T] | PartDone | StateChange | PreludeRecords | PreludeDone


class FetchEvents(Generic[T]):
    """What ``work`` delivers while it holds an SP-API connection, read on the SDK's thread.

    ``connection`` is the connection once the I/O thread has opened it (None before), so the
    reading side can report its metrics.
    """

    def __init__(
        self, run: RunContext, region: str, work: FetchWork[T], *, max_pending: int
    ) -> None:
        """Prepare; nothing is fetched until the events are iterated."""
        self.connection: ApiConnection | None = None
        self._run = run
        self._region = region
        self._work = work
        self._max_pending = max_pending

    def __iter__(self) -> Iterator[T]:
        """Open the connection on the I/O thread, run the work, yield its events in order."""

        async def produce(deliver: Callable[[T], Awaitable[None]]) -> None:
            async with self._run.open_connection(self._region) as connection:
                self.connection = connection
                await self._work(connection, deliver)

        return items_from_io_thread(produce, max_pending=self._max_pending)


class EventReader(abc.ABC, Generic[T]):
    """What a stream's events mean to it, on the SDK's thread (``ApiStream.write_events``)."""

    @abc.abstractmethod
    def page_records(self, page: Page[T]) -> list[dict[str, Any]]:
        """The records to write for a page of items (they may be fewer than its items)."""

    def prelude_records(self, prelude: PreludeRecords) -> list[dict[str, Any]]:
        """The records to write for records of the prelude: all of them, as they are."""
        return prelude.records

    @abc.abstractmethod
    def part_done(self, done: PartDone) -> None:
        """Note in the state that a part is written; a STATE message follows."""

    def after_event(self, connection: ApiConnection | None) -> None:
        """Called after each event (e.g. a progress line when one is due); nothing here."""


class StreamWithRunContext(Stream):
    """A stream that reaches the run (settings, connections, writers) as ``run``."""

    @override
    def __init__(self, tap: Tap) -> None:
        """Keep the tap as this stream's ``run``: only what ``RunContext`` declares."""
        super().__init__(tap=tap)
        if not isinstance(tap, ProvidesRunContext):
            msg = f"{type(self).__name__} needs a tap with run_context(), not {type(tap)}"
            raise TypeError(msg)
        self.run: RunContext = tap.run_context()


class ApiStream(StreamWithRunContext):
    """A stream fetched on the I/O thread, with the run's settings and connections at hand."""

    # Region of the stream's only marketplace, used when the region setting is unset.
    default_region: ClassVar[str]

    def fetch_events(self, work: FetchWork[T], *, max_pending: int) -> FetchEvents[T]:
        """The events ``work`` delivers, fetched on the I/O thread on a connection of its own."""
        return FetchEvents(self.run, self.default_region, work, max_pending=max_pending)

    def write_events(
        self,
        events: FetchEvents[StreamEvent[T]],
        reader: EventReader[T],
        state: dict[str, Any],
        page_writer: RecordPageWriter | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Read ``events`` in order: yield their records (or write them as pages), keep state.

        Records say whose they are (account.py) before the SDK or ``page_writer`` sees them:
        one dict store a record (~30 ns of the tap's ~5 us). ``state`` is the state the
        stream's ``StateChange`` events apply to. A STATE message follows each state change,
        each part done and the prelude's end; ``PartDone`` arrives after the part's last
        record was yielded and the generator resumed, i.e. once the SDK has written it.
        """
        account = self.run.settings.account_id
        for event in events:
            match event:
                case Page():
                    yield from _hand_over(reader.page_records(event), account, page_writer)
                case PreludeRecords():
                    yield from _hand_over(reader.prelude_records(event), account, page_writer)
                case PartDone():
                    reader.part_done(event)
                    self.write_state_now()
                case StateChange():
                    event.apply(state)
                    self.write_state_now()
                case PreludeDone():
                    self.write_state_now()
                case _:
                    assert_never(event)
            reader.after_event(events.connection)

    def write_state_now(self) -> None:
        """Write a STATE message now, if the state changed and records do not wait in a batch."""
        # In BATCH mode the records of finished windows may still sit in an unwritten batch
        # file: the SDK writes STATE itself after each BATCH message, so stay silent.
        if self.get_batch_config(self.config):
            return
        # The SDK writes STATE only after a record; a window with no records still moves
        # the bookmark, so write it here. The StateWriter skips unchanged states.
        _ = self.stream_state  # the SDK makes sure the stream's entry exists first, too
        self.run.state_writer.write_state(self.tap_state)
        mark_state_written(self)


def _hand_over(
    records: list[dict[str, Any]], account: str, page_writer: RecordPageWriter | None
) -> Iterator[dict[str, Any]]:
    """Stamp whose the records are; yield them to the SDK, or write them as one page."""
    for record in records:
        record[ACCOUNT_ID] = account
    if page_writer is None:
        yield from records
    else:
        page_writer.write(records)
