"""Run the tap as users do (a subprocess) and read its stdout as Singer messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tap_spinvoices.tap import TapSpinvoices

REPO = Path(__file__).resolve().parents[1]


@dataclass
class TapRun:
    """What one tap process printed, parsed."""

    returncode: int
    messages: list[dict[str, Any]]
    stderr: str
    raw_stdout: bytes = field(repr=False, default=b"")

    def records(self, stream: str = "customer_invoices") -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, Any]:
        return self.states()[-1]


def parse_messages(stdout: bytes) -> list[dict[str, Any]]:
    """Every complete line of stdout as a JSON message (a killed tap may leave half a line)."""
    lines = stdout.split(b"\n")
    complete = lines[:-1] if not stdout.endswith(b"\n") else lines
    return [orjson.loads(line) for line in complete if line.strip()]


def catalog_selecting(streams: tuple[str, ...]) -> dict[str, Any]:
    """The tap's catalog with only ``streams`` selected; a ``"stream.property"`` name also
    selects that property (the PDF digests are not selected by default)."""
    # Any well-formed config: the catalog does not depend on it.
    placeholder = {
        "lwa_client_id": "catalog",
        "lwa_client_secret": "catalog",
        "refresh_token": "catalog",
        "start_date": "2024-01-01T00:00:00Z",
    }
    tap = TapSpinvoices(config=placeholder, validate_config=False, setup_mapper=False)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
            elif f"{entry['tap_stream_id']}.{metadata['breadcrumb'][-1]}" in streams:
                metadata["metadata"]["selected"] = True
    return catalog


def tap_command(
    config: dict[str, Any], state: dict[str, Any] | None, workdir: Path, *extra: str
) -> list[str]:
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_spinvoices", "--config", str(config_path), *extra]
    if state is not None:
        state_path = workdir / "state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    return command


def tap_env(log_level: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_SPINVOICES_")}
    env["PYTHONPATH"] = str(REPO)
    if log_level:
        env["TAP_SPINVOICES_LOGLEVEL"] = log_level
    return env


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    *extra: str,
    log_level: str | None = None,
    timeout: float = 300,
    streams: tuple[str, ...] | None = ("customer_invoices",),
) -> TapRun:
    """Run the tap on ``config`` and parse its output.

    Only ``streams`` are selected (None: no catalog, every stream), with their default
    properties and any ``"stream.property"`` named in ``streams``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        if streams is not None:
            catalog_path = Path(tmp) / "catalog.json"
            catalog_path.write_text(json.dumps(catalog_selecting(streams)))
            extra = ("--catalog", str(catalog_path), *extra)
        proc = subprocess.run(
            tap_command(config, state, Path(tmp), *extra),
            capture_output=True,
            env=tap_env(log_level),
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    return TapRun(proc.returncode, parse_messages(proc.stdout), proc.stderr.decode(), proc.stdout)
