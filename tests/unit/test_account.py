"""account_id: the label that says whose a record is, in every record and every key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tap_spinvoices.account import DEFAULT_ACCOUNT_ID, keys_with_account, schema_with_account
from tap_spinvoices.errors import ConfigError
from tap_spinvoices.settings import parse_settings
from tap_spinvoices.tap import TapSpinvoices
from tests.builders import ConfigBuilder

NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["purchaseOrderNumber"], ["purchaseOrderNumber", "account_id"]),
        (["exportId", "account_id"], ["exportId", "account_id"]),
        ([], ["account_id"]),
        (None, ["account_id"]),
    ],
)
def test_account_id_is_appended_to_the_natural_key_once(keys, expected):
    assert keys_with_account(keys) == expected


def test_schema_gains_a_non_null_account_id_property_without_changing_the_original():
    original = {"type": "object", "properties": {"id": {"type": ["string"]}}}
    schema = schema_with_account(original)
    assert schema["properties"]["account_id"]["type"] == ["string"]
    assert "account_id" not in original["properties"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, DEFAULT_ACCOUNT_ID),
        ("", DEFAULT_ACCOUNT_ID),
        ("V1234", "V1234"),
        ("acme-eu.2", "acme-eu.2"),
    ],
)
def test_account_id_unset_is_default_else_as_given(value, expected):
    config = ConfigBuilder().with_setting("account_id", value).build()
    assert parse_settings(config, now=NOW).account_id == expected


@pytest.mark.parametrize("value", ["-V1", "has space", "a/b", "x" * 65, 42])
def test_bad_account_id_names_the_setting_and_the_fix(value):
    config = ConfigBuilder().with_setting("account_id", value).build()
    with pytest.raises(ConfigError, match=r"^Config error in 'account_id': .* Fix: use the"):
        parse_settings(config, now=NOW)


def test_every_stream_keys_on_account_id_and_declares_it():
    tap = TapSpinvoices(
        config=ConfigBuilder().build(), parse_env_config=False, validate_config=False
    )
    for stream in tap.streams.values():
        assert stream.primary_keys[-1] == "account_id", stream.name
        assert stream.primary_keys[0] != "account_id", stream.name  # de-duplication key first
        assert "account_id" in stream.schema["properties"], stream.name
