"""Whose records these are: the ``account_id`` field every stream writes and keys on.

One SP-API app is authorised by many selling partners (one refresh token each); their rows
land in the same tables. ``account_id`` is a label the user chooses per run (e.g. the vendor
code), written into every record of every stream and appended to every primary key, so two
accounts' rows with the same purchase order number never overwrite each other. State stays
per run: one run is one account, so account_id never enters a bookmark or a partition.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Final

ACCOUNT_ID: Final = "account_id"
# Unset: every record says "default", so the one-account quick start needs no new setting
# and the key column is never null (a null key breaks a target's upsert match).
DEFAULT_ACCOUNT_ID: Final = "default"
# The label also names the account's Meltano state (--state-id-suffix) and log folder:
# letters, digits, '.', '_' and '-', starting with a letter or digit.
ACCOUNT_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

_ACCOUNT_PROPERTY: Final[dict[str, Any]] = {
    "type": ["string"],
    "description": "The account_id setting of the run that wrote this record (whose it is).",
}


def keys_with_account(keys: list[str] | None) -> list[str]:
    """A stream's primary key with ``account_id`` appended (the natural key stays first)."""
    natural = [key for key in keys or [] if key != ACCOUNT_ID]
    return [*natural, ACCOUNT_ID]


def declared_keys(stream_class: type) -> list[str]:
    """The natural key a stream class declares (its ``primary_keys`` class attribute).

    An instance's keys are the SDK's property: account_id joins them, and a catalog may list
    them in another order. The class keeps what the stream itself is keyed by.
    """
    keys = inspect.getattr_static(stream_class, "primary_keys")
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        msg = f"{stream_class.__name__} declares no primary_keys list"
        raise TypeError(msg)
    return list(keys)


def schema_with_account(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a stream schema with the ``account_id`` property (non-null string)."""
    properties = {**schema.get("properties", {}), ACCOUNT_ID: dict(_ACCOUNT_PROPERTY)}
    return {**schema, "properties": properties}
