"""Deterministic customer invoices: what the emulator serves and what tests expect back.

The dataset is a pure function of the config's seed and dataset fields, so a test can compute
exactly which invoices a sync must return. Only the index (party, timestamp, purchase order
number) lives in memory; each invoice's Base64 PDF is regenerated from (seed, purchase order
number) on demand, so a 100k x 20 KB benchmark costs no content memory.
"""

from __future__ import annotations

import base64
import bisect
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from spapi_emulator.config import PDF_HEADER
from spapi_emulator.families import Family
from spapi_emulator.hostile import is_chosen
from spapi_emulator.isotime import from_micros, to_micros

if TYPE_CHECKING:
    from collections.abc import Sequence

    from spapi_emulator.config import EmulatorConfig
    from spapi_emulator.families import FamilyInputs

_MS_PER_DAY = 86_400_000
_MS_PER_HOUR = 3_600_000
_US_PER_MS = 1000
_HOURS_PER_DAY = 24


@dataclass(frozen=True, slots=True)
class Invoice:
    """One Vendor Direct Fulfillment customer invoice, without its content.

    getCustomerInvoices returns only ``purchaseOrderNumber`` and ``content``; the party and the
    creation time are what the emulator filters on and what tests compute windows with.

    Attributes:
        purchase_order_number: Unique, matches ``^[a-zA-Z0-9]+$`` (the model's pattern).
        ship_from_party_id: The vendor warehouse the invoice belongs to.
        created_at: Aware UTC creation time, millisecond resolution.

    """

    purchase_order_number: str
    ship_from_party_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Window:
    """The invoices of one (party, createdAfter, createdBefore) query, ascending.

    A view over the dataset's sorted index: ``items[lo:hi]``, never copied, so a page is
    O(limit) however large the dataset is.

    Attributes:
        items: The sorted index the window points into.
        lo: First index in the window.
        hi: One past the last index in the window.

    """

    items: Sequence[Invoice]
    lo: int
    hi: int

    def __len__(self) -> int:
        """Return the number of invoices in the window."""
        return self.hi - self.lo

    def page(self, offset: int, limit: int, *, descending: bool = False) -> list[Invoice]:
        """Return up to ``limit`` invoices starting ``offset`` invoices into the window.

        Args:
            offset: Invoices to skip, counted in the requested sort order.
            limit: Maximum number of invoices to return.
            descending: Count from the newest invoice instead of the oldest.

        Returns:
            The page, in the requested order.

        """
        if descending:
            stop = self.hi - offset
            start = max(self.lo, stop - limit)
            return list(reversed(self.items[start:stop])) if stop > start else []
        start = self.lo + offset
        return list(self.items[start : min(self.hi, start + limit)])


class Dataset:
    """Seeded invoices for every ship-from party and dataset day.

    For each party and day, ``invoices_per_day`` invoices get millisecond timestamps spread
    uniformly over the day; every ``boundary_every``-th one (by time) is moved exactly onto a
    whole hour, midnight first, so strict-versus-inclusive window bounds have real cases.
    Purchase order numbers are ``purchase_order_prefix`` (``"PO"``) + party index (2 digits) +
    day (5) + sequence (6).
    """

    def __init__(self, config: EmulatorConfig) -> None:
        """Build the index from the config's dataset fields.

        Args:
            config: The emulator config; its dataset fields are read once.

        """
        self.seed = config.seed
        self.start = config.dataset_start.astimezone(UTC)
        self.end = self.start + timedelta(days=config.days)
        self.parties: tuple[str, ...] = tuple(config.parties)
        self.content_bytes = config.content_bytes
        self.huge_invoice_every = config.huge_invoice_every
        self.huge_invoice_bytes = config.huge_invoice_bytes
        prefix = config.purchase_order_prefix
        rows: list[tuple[int, str, Invoice]] = []
        by_party: dict[str, list[tuple[int, str, Invoice]]] = {p: [] for p in self.parties}
        start_us = to_micros(self.start)
        for party_index, party in enumerate(self.parties):
            for day in range(config.days):
                offsets = _day_offsets_ms(
                    config.seed, party, day, config.invoices_per_day, config.boundary_every
                )
                day_us = start_us + day * _MS_PER_DAY * _US_PER_MS
                for seq, offset in enumerate(offsets):
                    micros = day_us + offset * _US_PER_MS
                    po = f"{prefix}{party_index:02d}{day:05d}{seq:06d}"
                    row = (micros, po, Invoice(po, party, from_micros(micros)))
                    rows.append(row)
                    by_party[party].append(row)
        self._all = _Index(rows)
        self._by_party = {party: _Index(party_rows) for party, party_rows in by_party.items()}

    def __len__(self) -> int:
        """Return the number of invoices in the dataset."""
        return len(self._all.items)

    def window(
        self,
        created_after: datetime,
        created_before: datetime,
        *,
        party: str | None = None,
        inclusive: bool = False,
    ) -> Window:
        """Return the invoices created between two moments, as getCustomerInvoices filters them.

        Args:
            created_after: Lower bound (aware).
            created_before: Upper bound (aware).
            party: Only this ship-from party; None: all parties.
            inclusive: Include invoices stamped exactly on a bound (default: strict).

        Returns:
            A view sorted by (created_at, purchase_order_number).

        """
        index = self._all if party is None else self._by_party.get(party, _EMPTY)
        after_us, before_us = to_micros(created_after), to_micros(created_before)
        if inclusive:
            lo = bisect.bisect_left(index.keys, after_us)
            hi = bisect.bisect_right(index.keys, before_us)
        else:
            lo = bisect.bisect_right(index.keys, after_us)
            hi = bisect.bisect_left(index.keys, before_us)
        return Window(index.items, lo, max(lo, hi))

    def invoices(
        self,
        created_after: datetime,
        created_before: datetime,
        party: str | None = None,
        *,
        inclusive: bool = False,
    ) -> list[Invoice]:
        """Return the invoices a complete ASC sync of one query must yield, in order.

        Args:
            created_after: Lower bound (aware).
            created_before: Upper bound (aware).
            party: Only this ship-from party; None: all parties.
            inclusive: Include invoices stamped exactly on a bound (default: strict).

        Returns:
            Invoices sorted by (created_at, purchase_order_number).

        """
        found = self.window(created_after, created_before, party=party, inclusive=inclusive)
        return found.page(0, len(found))

    def all_invoices(self) -> list[Invoice]:
        """Return every invoice, sorted by (created_at, purchase_order_number)."""
        return list(self._all.items)

    def content(self, purchase_order_number: str) -> str:
        r"""Return the invoice's content: standard Base64 of a fake PDF, made on demand.

        The bytes are ``%PDF-1.4\n`` followed by seeded random bytes, ``content_bytes`` long
        in total (``huge_invoice_bytes`` for every ``huge_invoice_every``-th invoice); the
        same (seed, purchase order number) always gives the same text.

        Args:
            purchase_order_number: The invoice's purchase order number.

        Returns:
            Base64 text (alphabet with ``+`` and ``/``, ``=`` padding), like the real API.

        """
        # Not security relevant: reproducible filler bytes for a fake PDF.
        rng = random.Random(f"{self.seed}:content:{purchase_order_number}")  # noqa: S311
        size = (
            self.huge_invoice_bytes
            if is_chosen(purchase_order_number, self.huge_invoice_every)
            else self.content_bytes
        )
        raw = PDF_HEADER + rng.randbytes(size - len(PDF_HEADER))
        return base64.b64encode(raw).decode("ascii")


class _Index:
    """Invoices sorted by (created, PO) with their creation micros, for bisection."""

    def __init__(self, rows: list[tuple[int, str, Invoice]]) -> None:
        rows.sort(key=lambda row: (row[0], row[1]))
        self.keys = [row[0] for row in rows]
        self.items = [row[2] for row in rows]


_EMPTY = _Index([])


def _dataset_of(inputs: FamilyInputs) -> Dataset:
    return Dataset(inputs.config)


# A selling partner's Direct Fulfillment state: its customer invoices (families.py).
DIRECT_FULFILLMENT: Family[Dataset] = Family("Direct Fulfillment", _dataset_of)


def _day_offsets_ms(seed: int, party: str, day: int, count: int, boundary_every: int) -> list[int]:
    """Return the sorted millisecond offsets into one party-day, boundaries included."""
    # Not security relevant: reproducible timestamps.
    rng = random.Random(f"{seed}:created:{party}:{day}")  # noqa: S311
    offsets = sorted(rng.randrange(_MS_PER_DAY) for _ in range(count))
    if boundary_every > 0:
        slots = count // boundary_every
        for k in range(slots):
            # Spread the whole-hour stamps over the day, starting at midnight: the most common
            # window boundary of a day-aligned sync.
            hour = (k * _HOURS_PER_DAY // slots) if slots <= _HOURS_PER_DAY else k % _HOURS_PER_DAY
            offsets[(k + 1) * boundary_every - 1] = hour * _MS_PER_HOUR
        offsets.sort()
    return offsets
