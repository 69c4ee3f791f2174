"""De-duplication of invoices repeated by overlapping or re-fetched windows."""

from __future__ import annotations


class AdjacentWindowDeduplicator:
    """Drops a key already seen in the current window or in the window just before it.

    Windows overlap by a second at their boundary (windows.BOUNDARY_OVERLAP), and a window
    whose nextToken expired is fetched again from its first page, so the same invoice can
    arrive twice; it can never arrive from two windows further apart than neighbours.
    Memory holds the keys of two windows, not of the history.
    """

    def __init__(self) -> None:
        """Start with no window seen."""
        self._previous: set[str] = set()
        self._current: set[str] = set()

    def is_new(self, key: str) -> bool:
        """True the first time ``key`` shows up in this window and its predecessor."""
        if key in self._current or key in self._previous:
            return False
        self._current.add(key)
        return True

    def next_window(self) -> None:
        """The current window is complete; keep its keys only for its successor."""
        self._previous, self._current = self._current, set()
