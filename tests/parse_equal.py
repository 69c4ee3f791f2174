"""What "parses equal" means for two Singer message lines: what an SDK target reads from them.

An SDK target decodes each line of its input as text and parses it with ``deserialize_json``
(numbers as ``Decimal``). Two lines parse equal when that gives the same objects with keys
in the same order, the same strings, and the same numbers digit for digit (``Decimal``
tuples, so ``1E+3`` and ``1000`` differ, while ``1e-07`` and ``1e-7`` do not). Used by
tests/unit/test_writer.py and benchmarks/bench_writer.py.
"""

from __future__ import annotations

import decimal
from typing import Any

from singer_sdk.singerlib.json import deserialize_json


def as_target_reads(line: bytes) -> Any:
    """The message a target reads from one line, every type and digit kept.

    Raises:
        ValueError: The bytes are not one newline-terminated line of UTF-8 JSON.

    """
    # A target reading text splits lines at a raw \n or \r (universal newlines).
    if not line.endswith(b"\n") or b"\n" in line[:-1] or b"\r" in line:
        msg = f"not one line: {line[:80]!r}"
        raise ValueError(msg)
    return _tagged(deserialize_json(line.decode("utf-8")))


def read_lines(output: bytes) -> list[Any]:
    """``as_target_reads`` of every line of an output (which must end with a newline).

    Raises:
        ValueError: The output does not end with a newline, or a line is not UTF-8 JSON.

    """
    *lines, rest = output.split(b"\n")
    if rest:
        msg = f"output does not end with a newline: {rest[-80:]!r}"
        raise ValueError(msg)
    return [as_target_reads(line + b"\n") for line in lines]


def _tagged(value: Any) -> Any:
    if isinstance(value, dict):
        return ("object", [(key, _tagged(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("array", [_tagged(item) for item in value])
    if isinstance(value, decimal.Decimal):
        return ("number", value.as_tuple())
    return (type(value).__name__, value)
