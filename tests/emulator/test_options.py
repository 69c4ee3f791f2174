"""The emulator's switches: one declared field each gives the flag, --help, docs and the config."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pytest

from scripts import generate_docs
from spapi_emulator import EmulatorConfig, EmulatorServer, options
from spapi_emulator.__main__ import build_parser, config_from_args
from spapi_emulator.config import DocumentBody, FollowUp, Section

FLAGGED = [d for d in options.reference(EmulatorConfig) if d.flag is not None]


def test_emulator_reference_in_docs_is_generated_from_the_declaration():
    assert generate_docs.EMULATOR_MD.read_text() == generate_docs.render_emulator(), (
        "docs/emulator.md is stale. Fix: .venv/bin/python scripts/generate_docs.py"
    )


def test_every_config_field_is_declared_with_its_help_and_section():
    declared = options.declared_fields(EmulatorConfig)

    assert [spec.name for spec, _ in declared] == [
        f.name for f in dataclasses.fields(EmulatorConfig)
    ]
    assert all(option.help and isinstance(option.section, Section) for _, option in declared)


def test_no_flags_give_the_default_config():
    assert config_from_args(build_parser().parse_args([])) == EmulatorConfig()


@pytest.mark.parametrize("described", FLAGGED, ids=lambda d: d.flag)
def test_every_flag_is_in_help_with_its_text(described: options.Described):
    # argparse wraps lines, at hyphens too: compare without white space.
    text = "".join(build_parser().format_help().split())

    assert described.flag in text
    assert "".join(described.option.help.split()) in text


def test_a_switch_on_by_default_is_turned_off_with_its_no_flag():
    args = build_parser().parse_args(["--no-throttle", "--no-require-rdt", "--rdt-denied"])
    config = config_from_args(args)

    assert (config.throttle, config.require_rdt, config.rdt_denied) == (False, False, True)


def test_flags_are_converted_into_the_field_types():
    args = build_parser().parse_args(
        [
            "--parties=WH-1,WH-2,",
            "--latency-ms=150-450",
            "--dataset-start=2024-03-01T00:00:00Z",
            "--selling-partners=2",
            "--seed=11",
            "--document-body=broken",
        ]
    )
    config = config_from_args(args)

    assert config.parties == ("WH-1", "WH-2")
    assert config.latency_ms == (150.0, 450.0)
    assert config.dataset_start.isoformat() == "2024-03-01T00:00:00+00:00"
    assert [p.seed for p in config.selling_partners] == [12, 13]
    assert config.document_body is DocumentBody.BROKEN


@pytest.mark.parametrize("value", ["zip", DocumentBody.ZIP])
def test_a_mode_is_an_enum_member_whether_given_as_member_or_text(value: Any):
    assert EmulatorConfig(document_body=value).document_body is DocumentBody.ZIP


def test_the_config_is_frozen_and_reconfigure_puts_a_checked_one_in_place():
    with EmulatorServer(EmulatorConfig(days=0)) as emu:
        with pytest.raises(dataclasses.FrozenInstanceError):
            emu.config.fault_5xx_rate = 1.0  # type: ignore[misc]
        emu.reconfigure(invoices_follow_up="token-only")
        assert emu.config.invoices_follow_up is FollowUp.TOKEN_ONLY
        assert emu.state.partners["SP1"].config is emu.config
        with pytest.raises(ValueError, match="time_scale"):
            emu.reconfigure(time_scale=0.0)
        assert emu.config.time_scale == 1.0


class Mood(StrEnum):
    CALM = "calm"
    STORMY = "stormy"


class Part(StrEnum):
    ONLY = "Only part"


def test_a_new_switch_is_one_declared_field():
    @dataclass(frozen=True, kw_only=True)
    class WithSwitches:
        gust_rate: float = options.option(0.0, "Share of gusty answers.", Part.ONLY)
        mood: Mood = options.option(Mood.CALM, "How the weather feels.", Part.ONLY)
        sunny: bool = options.option(True, "The sun shines.", Part.ONLY)
        hook: object = options.python_only("A Python-only hook.", Part.ONLY)

        def __post_init__(self) -> None:
            options.coerce_choices(self)

    parser = argparse.ArgumentParser()
    options.add_arguments(parser, WithSwitches)
    parsed = parser.parse_args(["--gust-rate=0.5", "--mood=stormy", "--no-sunny"])

    assert options.from_arguments(WithSwitches, parsed) == WithSwitches(
        gust_rate=0.5, mood=Mood.STORMY, sunny=False
    )
    assert [(d.flag, d.default) for d in options.reference(WithSwitches)] == [
        ("--gust-rate", "0.0"),
        ("--mood", "calm"),
        ("--no-sunny", "on"),
        (None, ""),
    ]
    with pytest.raises(ValueError, match="mood must be one of calm, stormy"):
        WithSwitches(mood="foggy")  # type: ignore[arg-type]
