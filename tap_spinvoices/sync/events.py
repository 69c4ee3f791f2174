"""What the I/O thread hands the SDK's thread, for every stream: one vocabulary.

A stream fetches in *parts* (WindowedStream: date windows; invoice_documents: export
documents), each part as pages of items, in part order. Some windowed streams first have a
*prelude*, a phase before the first part (invoice_exports follows up unfinished exports and
creates new ones there), whose records belong to no part. The I/O thread never touches the
Singer state: it asks for a change with ``StateChange``, and the SDK's thread applies it.
``ApiStream.write_events`` (api_stream.py) is the one loop that reads these events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """Items of one part, in the part's order, and what they cost in memory (bytes)."""

    part: int
    items: list[T]
    size: int


@dataclass(frozen=True)
class PartDone:
    """Every item of part ``part`` and of the parts before it was delivered."""

    part: int


@dataclass(frozen=True)
class StateChange:
    """A change to the stream's state, applied on the SDK's thread, then a STATE message.

    E.g. "export X was requested", written before X is polled.
    """

    apply: Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class PreludeRecords:
    """Records of the prelude, written as they are.

    They belong to no part: they are not de-duplicated against a neighbour, and they do not
    move a bookmark (a record the prelude follows up may come from any earlier window).
    """

    records: list[dict[str, Any]]


@dataclass(frozen=True)
class PreludeDone:
    """The prelude is over: every record and state change it had was delivered."""


# What a prelude delivers; ``PreludeDone`` follows it.
PreludeEvent = PreludeRecords | StateChange
