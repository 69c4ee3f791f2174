"""The API families a selling partner's state holds, declared by each family itself.

Beside tokens, buckets and counters (state.py), each selling partner's state holds one live
object per API family the emulator serves: the Direct Fulfillment dataset, the Invoices API's
exports and documents. Each family declares a ``Family`` key saying how its object is built
(``direct_fulfillment.dataset.DIRECT_FULFILLMENT``, ``invoices.exports.INVOICES_API``) and the
app lists those it serves (``app.FAMILIES``), so state.py imports no family and the families,
whose routes read the state, import nothing that imports them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from spapi_emulator.config import EmulatorConfig, LiveConfig

T = TypeVar("T")


@dataclass(frozen=True)
class FamilyInputs:
    """What a family's state is built from.

    Attributes:
        config: This selling partner's config; its dataset fields are read once, now.
        live: The config in force, read per request (shared by every partner).
        clock: Monotonic clock in seconds.
        wall_clock: Returns the current aware datetime.

    """

    config: EmulatorConfig
    live: LiveConfig
    clock: Callable[[], float]
    wall_clock: Callable[[], datetime]


@dataclass(frozen=True, eq=False)
class Family(Generic[T]):
    """The key of one API family's state in ``EmulatorState`` (``state.family(key)``).

    Attributes:
        name: The family, as logs and errors name it.
        build: Builds one selling partner's state of the family.

    """

    name: str
    build: Callable[[FamilyInputs], T]
