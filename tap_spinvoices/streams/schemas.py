"""The streams' JSON schemas: the files in tap_spinvoices/schemas/, each with account_id."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from tap_spinvoices.account import schema_with_account


def load_schema(name: str) -> dict[str, Any]:
    """A stream's JSON schema from tap_spinvoices/schemas/, with the account_id property.

    Every stream carries account_id (account.py), so the files do not repeat it.
    """
    text = resources.files("tap_spinvoices.schemas").joinpath(f"{name}.json").read_text()
    return schema_with_account(json.loads(text))
