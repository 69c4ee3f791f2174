"""SessionStream: a stream whose records come from SP-API calls made on the I/O thread.

Every stream of the tap has the same shape: a coroutine holding one SP-API session delivers
events (pages, records, "this part is done"); the SDK's thread reads them in order, writes
the records, and writes a STATE message when a part is done. This module holds that shape
once; the streams only say what to fetch and what an event means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from singer_sdk import Stream
from typing_extensions import override

from tap_spinvoices.sdk_compat import mark_state_written
from tap_spinvoices.sync.run_context import ProvidesRunContext, RunContext
from tap_spinvoices.sync.thread_bridge import items_from_io_thread

T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Iterator

    from singer_sdk import Tap

    from tap_spinvoices.spapi.session import ApiSession

    # A coroutine that fetches with the session and hands each event to its second argument.
    SessionWork = Callable[[ApiSession, Callable[[T], Awaitable[None]]], Coroutine[Any, Any, None]]


class SessionEvents(Generic[T]):
    """What ``work`` delivers while it holds an SP-API session, read on the SDK's thread.

    ``session`` is the session once the I/O thread has opened it (None before), so the
    reading side can report its metrics.
    """

    def __init__(
        self, run: RunContext, region: str, work: SessionWork[T], *, max_pending: int
    ) -> None:
        """Prepare; nothing is fetched until the events are iterated."""
        self.session: ApiSession | None = None
        self._run = run
        self._region = region
        self._work = work
        self._max_pending = max_pending

    def __iter__(self) -> Iterator[T]:
        """Open the session on the I/O thread, run the work, yield its events in order."""

        async def produce(deliver: Callable[[T], Awaitable[None]]) -> None:
            async with self._run.open_session(self._region) as session:
                self.session = session
                await self._work(session, deliver)

        return items_from_io_thread(produce, max_pending=self._max_pending)


class StreamWithRunContext(Stream):
    """A stream that reaches the run (settings, sessions, other streams, writers) as ``run``."""

    @override
    def __init__(self, tap: Tap) -> None:
        """Keep the tap as this stream's ``run``: only what ``RunContext`` declares."""
        super().__init__(tap=tap)
        if not isinstance(tap, ProvidesRunContext):
            msg = f"{type(self).__name__} needs a tap with run_context(), not {type(tap)}"
            raise TypeError(msg)
        self.run: RunContext = tap.run_context()


class SessionStream(StreamWithRunContext):
    """A stream fetched on the I/O thread, with the run's settings and sessions at hand."""

    # Region of the stream's only marketplace, used when the region setting is unset.
    default_region: ClassVar[str]

    def session_events(self, work: SessionWork[T], *, max_pending: int) -> SessionEvents[T]:
        """The events ``work`` delivers, fetched on the I/O thread in a session of its own."""
        return SessionEvents(self.run, self.default_region, work, max_pending=max_pending)

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
