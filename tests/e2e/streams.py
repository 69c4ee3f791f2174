"""What the tap offers, asked of the tap itself (so new streams are covered without edits)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from spapi_emulator import EmulatorConfig, EmulatorServer
from tap_spinvoices.tap import TapSpinvoices
from tests.builders import ConfigBuilder
from tests.conftest import FAST_EMULATOR

# FAST_EMULATOR, with rates, export queues and processing 1000x faster: the Invoices API's
# minute-scale quotas and export delays finish in milliseconds, so every stream syncs quickly.
E2E_EMULATOR: dict[str, Any] = {**FAST_EMULATOR, "time_scale": 1000.0}


def start_emulator(**overrides: Any) -> EmulatorServer:
    return EmulatorServer(EmulatorConfig(**{**E2E_EMULATOR, **overrides})).start()


def primary_keys() -> dict[str, list[str]]:
    """Stream name -> primary key properties, for every stream the tap discovers."""
    tap = TapSpinvoices(
        config=ConfigBuilder().build(), parse_env_config=False, validate_config=False
    )
    return {name: list(stream.primary_keys or []) for name, stream in tap.streams.items()}


def duplicate_keys(records: list[dict[str, Any]], keys: list[str]) -> list[tuple[Any, ...]]:
    counts = Counter(tuple(record.get(key) for key in keys) for record in records)
    return [key for key, n in counts.items() if n > 1]


def number_columns() -> dict[str, list[str]]:
    """Stream name -> its properties of JSON-schema type number (amounts, rates, quantities)."""
    tap = TapSpinvoices(
        config=ConfigBuilder().build(), parse_env_config=False, validate_config=False
    )
    columns = {}
    for name, stream in tap.streams.items():
        numbers = [
            prop
            for prop, schema in stream.schema["properties"].items()
            if "number" in (schema.get("type") or [])
        ]
        if numbers:
            columns[name] = numbers
    return columns
