"""Specifications of the settings: one declaration, and everything derived from it agrees."""

from __future__ import annotations

import collections.abc
import json
import re
import types
import typing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from scripts import generate_docs, meltano_settings
from tap_spinvoices.errors import ConfigError
from tap_spinvoices.settings import parse_settings
from tap_spinvoices.settings_declaration import (
    DECLARED,
    Group,
    Kind,
    Setting,
    Settings,
    declare,
    declared_settings,
    json_schema,
)
from tap_spinvoices.tap import TapSpinvoices
from tests.builders import ConfigBuilder

PACKAGE = Path(__file__).resolve().parents[2] / "tap_spinvoices"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
INTEGERS = [setting for setting in DECLARED if setting.kind is Kind.INTEGER]


def minimal() -> dict[str, Any]:
    """The required settings only, none of them equal to its declared example."""
    return {
        "lwa_client_id": "client",
        "lwa_client_secret": "secret",
        "refresh_token": "Atzr|token",
        "start_date": "2023-05-05T00:00:00Z",
    }


def ids(setting: Setting) -> str:
    return setting.name


def test_settings_reference_in_docs_is_generated_from_the_declaration():
    assert generate_docs.SETTINGS_MD.read_text() == generate_docs.render(), (
        "docs/settings.md is stale. Fix: .venv/bin/python scripts/generate_docs.py"
    )


def test_readme_table_of_main_settings_is_generated_from_the_declaration():
    readme = generate_docs.README_MD.read_text()

    assert readme == generate_docs.render_readme(readme), (
        "README.md's settings table is stale. Fix: .venv/bin/python scripts/generate_docs.py"
    )


def test_meltano_yml_settings_are_generated_from_the_declaration():
    assert meltano_settings.main(["--check"]) == 0, (
        "meltano.yml is stale. Fix: .venv/bin/python scripts/meltano_settings.py"
    )


def test_tap_schema_is_the_declared_schema_plus_only_singer_sdk_built_ins():
    TapSpinvoices(config=ConfigBuilder().build(), parse_env_config=False)  # adds the built-ins
    tap_schema = TapSpinvoices.config_jsonschema["properties"]
    declared = json_schema()["properties"]

    assert {name: tap_schema[name] for name in declared} == declared
    builtins = {name for names in meltano_settings.BUILTIN_SETTINGS.values() for name in names}
    assert set(tap_schema) - set(declared) <= builtins


def test_json_schema_lists_every_declared_setting_in_declared_order():
    schema = json_schema()
    properties = schema["properties"]

    assert list(properties) == [setting.name for setting in DECLARED]
    assert schema["required"] == [s.name for s in DECLARED if s.required]
    assert [name for name, prop in properties.items() if prop.get("secret")] == [
        "lwa_client_secret",
        "refresh_token",
        "archive_options",
    ]


@pytest.mark.parametrize("setting", INTEGERS, ids=ids)
def test_json_schema_carries_the_declared_range_and_default(setting):
    prop = json_schema()["properties"][setting.name]

    assert (prop["minimum"], prop["maximum"], prop["default"]) == (
        setting.low,
        setting.high,
        setting.default,
    )
    assert f"From {setting.low} to {setting.high}." in prop["description"]


def with_needs(setting: Setting) -> dict[str, Any]:
    """The required settings and those ``setting`` needs to mean anything (its ``needs``)."""
    return minimal() | dict(setting.needs)


@pytest.mark.parametrize("setting", DECLARED, ids=ids)
def test_declared_example_is_valid_and_not_the_default(setting):
    config = with_needs(setting) | {setting.name: setting.example}

    jsonschema.validate(config, json_schema())
    parse_settings(config, now=NOW)
    assert setting.example != setting.default


@pytest.mark.parametrize("setting", DECLARED, ids=ids)
def test_every_declared_setting_is_read_into_the_parsed_settings(setting):
    with_example = with_needs(setting) | {setting.name: setting.example}

    assert parse_settings(with_example, now=NOW) != parse_settings(with_needs(setting), now=NOW)


def is_of_type(value: object, hint: Any) -> bool:
    """Whether ``value`` fits a Settings field type (classes, unions, tuple[X, ...])."""
    origin = typing.get_origin(hint)
    if origin is types.UnionType:
        return any(is_of_type(value, option) for option in typing.get_args(hint))
    if origin is tuple:
        (item, _) = typing.get_args(hint)
        return isinstance(value, tuple) and all(isinstance(v, item) for v in value)
    if origin is collections.abc.Mapping:
        key, item = typing.get_args(hint)
        return isinstance(value, origin) and all(
            is_of_type(k, key) and is_of_type(v, item) for k, v in value.items()
        )
    if hint is type(None):
        return value is None
    return isinstance(value, hint)


@pytest.mark.parametrize("setting", DECLARED, ids=ids)
def test_every_setting_is_read_into_its_field_in_the_field_type(setting):
    hint = typing.get_type_hints(Settings)[setting.attribute]
    for config in (with_needs(setting), with_needs(setting) | {setting.name: setting.example}):
        value = getattr(parse_settings(config, now=NOW), setting.attribute)
        assert is_of_type(value, hint), f"{setting.attribute}={value!r} is not a {hint}"


def test_units_are_converted_as_declared():
    config = minimal() | {
        "buffer_mb": 64,
        "lookback_minutes": 120,
        "end_lag_minutes": 15,
        "window_hours": 6,
        "rate_budget_percent": 50,
        "request_timeout_seconds": 120,
    }
    settings = parse_settings(config, now=NOW)

    assert settings.buffer_bytes == 64 * 1024 * 1024
    assert settings.lookback == timedelta(minutes=120)
    assert settings.end_lag == timedelta(minutes=15)
    assert settings.window == timedelta(hours=6)
    assert settings.rate_budget_share == 0.5
    assert settings.request_timeout_s == 120.0


def test_invoice_filters_are_the_query_parameters_of_the_invoice_settings():
    config = minimal() | {
        "invoice_statuses": ["AUTHORIZED", "CANCELED"],
        "invoice_type": "SHIPPING",
        "invoice_transaction_type": "",
    }

    assert parse_settings(config, now=NOW).invoice_filters == {
        "statuses": "AUTHORIZED,CANCELED",
        "invoiceType": "SHIPPING",
    }


def test_secret_settings_are_left_out_of_the_repr():
    shown = repr(parse_settings(minimal(), now=NOW))

    assert "client" in shown
    assert "secret" not in shown
    assert "Atzr|token" not in shown


def test_a_new_setting_is_one_declared_field():
    @dataclass(frozen=True)
    class WithOneSetting:
        poll_gap: timedelta = declare(
            Kind.INTEGER,
            Group.TUNING,
            name="poll_gap_minutes",
            title="Poll gap (minutes)",
            description="How long to wait.",
            example=5,
            default=2,
            low=1,
            high=9,
            convert=lambda minutes: timedelta(minutes=minutes),
        )

    (setting,) = declared_settings(WithOneSetting)

    assert (setting.name, setting.attribute) == ("poll_gap_minutes", "poll_gap")
    assert setting.value_in({}) == timedelta(minutes=2)
    assert setting.value_in({"poll_gap_minutes": "5"}) == timedelta(minutes=5)
    assert setting.schema_property().to_dict()["poll_gap_minutes"]["maximum"] == 9
    with pytest.raises(ConfigError, match="'poll_gap_minutes': 10 is not a whole number"):
        setting.value_in({"poll_gap_minutes": 10})


def test_declared_defaults_are_what_leaving_a_setting_out_means():
    defaults = {s.name: s.default for s in DECLARED if s.default is not None}

    assert parse_settings(minimal() | defaults, now=NOW) == parse_settings(minimal(), now=NOW)


@pytest.mark.parametrize("setting", INTEGERS, ids=ids)
def test_whole_number_setting_accepts_exactly_its_declared_range(setting):
    default, low, high = setting.integer_bounds()
    for accepted in (low, high, str(high)):
        parse_settings(with_needs(setting) | {setting.name: accepted}, now=NOW)
    for refused in (low - 1, high + 1, 2.5, True):
        with pytest.raises(ConfigError) as error:
            parse_settings(with_needs(setting) | {setting.name: refused}, now=NOW)
        assert str(error.value) == (
            f"Config error in '{setting.name}': {refused!r} is not a whole number from {low} "
            f"to {high}. Fix: set {setting.name} between {low} and {high} or remove it "
            f"(default {default})"
        )


# Broken settings the integration tests (tests/integration/test_bad_input.py) do not run.
BROKEN = {
    "start-date-missing": (
        {"start_date": None},
        "Config error in 'start_date': missing. Fix: set start_date to an ISO 8601 date-time",
    ),
    "start-date-in-the-future": (
        {"start_date": "2025-06-01T00:00:00Z"},
        (
            "Config error in 'start_date': 2025-06-01T00:00:00+00:00 is not in the past "
            "(now minus end_lag_minutes is 2025-05-31T23:55:00+00:00). "
            "Fix: set start_date to an earlier instant"
        ),
    ),
    "end-date-not-a-string": (
        {"end_date": 20240101},
        (
            "Config error in 'end_date': 20240101 is not an ISO 8601 date-time. "
            "Fix: write it like 2024-01-01T00:00:00Z (setting end_date)"
        ),
    ),
    "date-without-a-time": (
        {"start_date": "2024-01-01"},
        (
            "Config error in 'start_date': '2024-01-01' is not an ISO 8601 date-time. "
            "Fix: write it like 2024-01-01T00:00:00Z (setting start_date)"
        ),
    ),
    "parties-not-a-list": (
        {"ship_from_party_ids": "WH-1"},
        (
            "Config error in 'ship_from_party_ids': must be a list of non-empty strings. "
            'Fix: e.g. ["WH1", "WH2"]'
        ),
    ),
    "empty-status": (
        {"invoice_statuses": [""]},
        (
            "Config error in 'invoice_statuses': must be a list of non-empty strings. "
            'Fix: e.g. ["AUTHORIZED"]'
        ),
    ),
    "token-url-plain-http-to-a-remote-host": (
        {"lwa_token_url": "http://api.amazon.com/auth/o2/token"},
        (
            "Config error in 'lwa_token_url': plain http is only allowed to a loopback host, not "
            "'api.amazon.com'. Fix: use https, or http://127.0.0.1 for the local emulator"
        ),
    ),
}


@pytest.mark.parametrize(("change", "line"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_setting_is_one_line_naming_it_and_the_fix(change, line):
    with pytest.raises(ConfigError) as error:
        parse_settings(minimal() | change, now=NOW)

    assert str(error.value) == line


def test_ship_from_party_listed_twice_is_kept_once_in_first_given_order():
    config = minimal() | {"ship_from_party_ids": ["WH-2", "WH-1", "WH-2"]}

    assert parse_settings(config, now=NOW).ship_from_party_ids == ("WH-2", "WH-1")


def test_null_df_api_version_means_the_default():
    settings = parse_settings(minimal() | {"df_api_version": None}, now=NOW)

    assert settings.df_api_version == "2021-12-28"


def test_end_date_later_than_now_minus_the_lag_is_capped():
    config = minimal() | {"end_date": "2030-01-01T00:00:00Z", "end_lag_minutes": 10}

    assert parse_settings(config, now=NOW).end_date == NOW - timedelta(minutes=10)


def test_checks_report_the_first_broken_setting_in_a_fixed_order():
    config = minimal() | {"region": "in", "df_api_version": "v9", "window_hours": 0}

    with pytest.raises(ConfigError, match="'region'"):
        parse_settings(config, now=NOW)


def test_partitions_are_the_parsed_parties_each_once():
    config = ConfigBuilder().with_parties("WH-BLR-1", "WH-DEL-2", "WH-BLR-1").build()
    tap = TapSpinvoices(config=config, parse_env_config=False)

    assert tap.streams["customer_invoices"].partitions == [
        {"ship_from_party_id": "WH-BLR-1"},
        {"ship_from_party_id": "WH-DEL-2"},
    ]
    assert tap.streams["invoices"].partitions == [{"marketplaceId": "A2Q3Y263D00KWC"}]


def test_discovery_needs_no_valid_settings():
    tap = TapSpinvoices(
        config={"ship_from_party_ids": "WH-1", "window_hours": 0},
        validate_config=False,
        parse_env_config=False,
    )

    catalog = json.loads(json.dumps(tap.catalog_dict))
    assert {entry["tap_stream_id"] for entry in catalog["streams"]} == set(tap.streams)


def test_no_module_but_the_parser_reads_a_declared_setting_from_the_raw_config():
    names = "|".join(setting.name for setting in DECLARED)
    raw_read = re.compile(rf"config(\.get\(|\[)\s*[\"']({names})[\"']")
    parser = PACKAGE / "settings.py"

    readers = [
        f"{path.relative_to(PACKAGE)}: {match.group(0)}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != parser
        for match in raw_read.finditer(path.read_text())
    ]
    assert readers == [], "read tap.settings (the parsed Settings) instead"


OFFERED = {"stream_maps": {"type": ["object", "null"]}, "batch_config": {"type": "object"}}
OWN = {"name": "start_date", "kind": "date_iso8601", "label": "Start date"}


@pytest.mark.parametrize(
    ("listed", "expected", "problems"),
    [
        pytest.param(
            [OWN, {"name": "stream_maps", "kind": "object", "label": "Old words"}],
            [OWN, {"name": "stream_maps", "kind": "object", "label": "New words"}],
            [],
            id="built-in-reworded-by-the-sdk",
        ),
        pytest.param(
            [{**OWN, "label": "Stale"}],
            [OWN],
            ["the tap's own settings differ from settings_declaration.py"],
            id="own-setting-stale",
        ),
        pytest.param(
            [OWN, {"name": "faker_config", "kind": "object"}],
            [OWN],
            ["built-in setting faker_config is no longer offered by singer-sdk"],
            id="built-in-gone",
        ),
        pytest.param(
            [OWN, {"name": "batch_config", "kind": "string"}],
            [OWN],
            ["built-in setting batch_config changed kind"],
            id="built-in-changed-kind",
        ),
    ],
)
def test_meltano_yml_from_another_sdk_version_is_checked_on_the_tap_settings_and_builtin_names(
    listed, expected, problems
):
    assert meltano_settings.drift_across_sdk_versions(listed, expected, OFFERED) == problems
