"""Users add the tap to their own Meltano project in one command, from meltano-hub/.

    meltano add --plugin-type extractor tap-spinvoices --from-ref meltano-hub/tap-spinvoices.yml

in a project made by `meltano init`, with SPINVOICES_PIP_URL pointing at this checkout; the
added extractor then runs against the emulator and its records say whose they are.
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

PLUGIN_REF = REPO / "meltano-hub" / "tap-spinvoices.yml"


def test_meltano_add_from_ref_installs_a_working_extractor(
    meltano_executable: Path, e2e_emulator: EmulatorServer, tmp_path: Path
):
    env = clean_env(SPINVOICES_PIP_URL=str(REPO))

    def meltano(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
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
        assert proc.returncode == 0, f"meltano {' '.join(args)}:\n{tail(proc.stderr)}"
        return proc

    meltano("init", "their-project", "--no-usage-stats", cwd=tmp_path)
    project = tmp_path / "their-project"
    add = ("add", "--plugin-type", "extractor", "tap-spinvoices", "--from-ref", str(PLUGIN_REF))
    meltano(*add, cwd=project)

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
