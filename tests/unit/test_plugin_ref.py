"""meltano-hub/tap-spinvoices.yml is what scripts/meltano_plugin_ref.py makes of meltano.yml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_plugin_definition_is_generated_from_meltano_yml():
    proc = subprocess.run(
        [sys.executable, "scripts/meltano_plugin_ref.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_plugin_definition_installs_from_the_users_source_and_declares_account_id():
    definition = yaml.safe_load((REPO / "meltano-hub" / "tap-spinvoices.yml").read_text())
    assert definition["pip_url"] == "$SPINVOICES_PIP_URL"
    assert "account_id" in {setting["name"] for setting in definition["settings"]}
