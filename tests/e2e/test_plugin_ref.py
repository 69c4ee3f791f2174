"""Another Meltano project adds the tap from meltano-hub/, and a missing checkout breaks nothing.

The project made by `meltano init` holds this repository at tap-spinvoices/ (a symlink here);
`meltano add --from-ref` installs the tap from there and it runs against the emulator. With
the folder gone, `meltano install` fails with one line naming the path and the installed venv
still runs: pip_url ($MELTANO_PROJECT_ROOT/tap-spinvoices) expands to the same arguments, so
Meltano does not wipe the venv before trying. The README's own flow (tests/e2e/test_readme.py)
adds target-jsonl from meltano-hub/ too and runs the pipeline.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

from tests.conftest import config_for
from tests.e2e.meltano_project import REPO, clean_env, tail

if TYPE_CHECKING:
    from pathlib import Path

    from spapi_emulator import EmulatorServer


def test_the_added_extractor_runs_and_a_missing_checkout_keeps_its_venv(
    meltano_executable: Path, e2e_emulator: EmulatorServer, tmp_path: Path
):
    env = clean_env()

    def meltano(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(meltano_executable), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert (proc.returncode == 0) is ok, f"meltano {' '.join(args)}:\n{tail(proc.stderr)}"
        return proc

    meltano("init", "their-project", "--no-usage-stats", cwd=tmp_path)
    project = tmp_path / "their-project"
    (project / "tap-spinvoices").symlink_to(REPO)
    ref = "tap-spinvoices/meltano-hub/tap-spinvoices.yml"
    meltano("add", "--plugin-type", "extractor", "tap-spinvoices", "--from-ref", ref, cwd=project)

    listed = meltano("config", "list", "--all", "tap-spinvoices", cwd=project).stdout
    assert "account_id" in listed
    config = (
        config_for(e2e_emulator)
        .with_range("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
        .with_setting("account_id", "V1234")
        .build()
    )
    env.update({f"TAP_SPINVOICES_{name.upper()}": str(value) for name, value in config.items()})
    out = meltano("invoke", "tap-spinvoices", cwd=project).stdout
    records = [m for m in map(json.loads, out.splitlines()) if m.get("type") == "RECORD"]
    assert records
    assert {m["record"]["account_id"] for m in records} == {"V1234"}

    (project / "tap-spinvoices").unlink()
    env["COLUMNS"] = "1000"  # Meltano's error box would wrap the path
    failed = meltano("install", cwd=project / "extract", ok=False)  # from a subfolder, too

    assert f"Distribution not found at: file://{project}/tap-spinvoices" in failed.stderr
    installed = project / ".meltano/extractors/tap-spinvoices/venv/bin/tap-spinvoices"
    version = subprocess.run(
        [str(installed), "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0
    assert "tap-spinvoices v" in version.stdout + version.stderr
