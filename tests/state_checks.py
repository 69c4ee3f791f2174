"""Checks on Singer STATE values."""

from __future__ import annotations

from typing import Any


def find_key(value: Any, key: str) -> bool:
    """True when ``key`` appears as a dict key anywhere in a nested JSON value."""
    if isinstance(value, dict):
        return key in value or any(find_key(v, key) for v in value.values())
    if isinstance(value, list):
        return any(find_key(v, key) for v in value)
    return False
