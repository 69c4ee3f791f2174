"""meltano-hub/*.yml are what scripts/meltano_plugin_ref.py makes of meltano.yml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
HUB = REPO / "meltano-hub"


def test_plugin_definitions_are_generated_from_meltano_yml():
    proc = subprocess.run(
        [sys.executable, "scripts/meltano_plugin_ref.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_the_tap_installs_from_a_fixed_folder_of_the_project_and_needs_no_variable():
    # A variable in pip_url, unset on one install, makes Meltano wipe the venv (the pip
    # arguments changed) and fail with a uv usage error; a fixed path cannot change.
    definition = yaml.safe_load((HUB / "tap-spinvoices.yml").read_text())
    assert definition["pip_url"] == "$MELTANO_PROJECT_ROOT/tap-spinvoices"
    assert "account_id" in {setting["name"] for setting in definition["settings"]}
    assert "structured-logging" in definition["capabilities"]


def test_target_jsonl_can_be_added_without_meltano_hub():
    definition = yaml.safe_load((HUB / "target-jsonl.yml").read_text())
    meltano = yaml.safe_load((REPO / "meltano.yml").read_text())
    (loader,) = [p for p in meltano["plugins"]["loaders"] if p["name"] == "target-jsonl"]
    assert definition["pip_url"] == loader["pip_url"] == "target-jsonl==0.1.4"
    assert [s["name"] for s in definition["settings"]] == [s["name"] for s in loader["settings"]]
