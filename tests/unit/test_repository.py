"""The repository holds only what it should: no broken symlink, no run artifact, a LICENSE.

A run of Meltano, the tap or the tests leaves files behind (Meltano's system folder, outputs,
state); .gitignore keeps each of them out of `git add -A`, and this test fails when one was
committed anyway or an ignore rule went missing.
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What runs write, as .gitignore-style globs matched against each tracked path. Meltano's own
# names come from its system folder (.meltano/, or MELTANO_SYS_DIR_ROOT wherever it points).
RUN_ARTIFACTS = (
    "CACHEDIR.TAG",
    "**/CACHEDIR.TAG",
    "analytics.json",
    "meltano.db",
    ".meltano/*",
    "run/*",
    "logs/*",
    "extractors/*",
    "loaders/*",
    "output/*",
    ".env",
    "*.jsonl",
    "state.json",
    "config.json",
    "catalog.json",
    "**/__pycache__/*",
    "*.pyc",
    ".venv*/*",
    ".dagster/*",
)
# A path of each kind a run writes, which `git check-ignore` must ignore.
WRITTEN_BY_RUNS = (
    "CACHEDIR.TAG",
    "analytics.json",
    "meltano.db",
    "run/bin",
    "logs/elt/x.log",
    "extractors/tap-spinvoices/venv",
    "loaders/target-jsonl/venv",
    ".meltano/meltano.db",
    ".meltano/run/tap-spinvoices/tap.properties.json",
    "output/emulator/customer_invoices.jsonl",
    "out.jsonl",
    ".env",
    "state.json",
    "config.json",
    ".venv/bin/python",
    ".venv-meltano/bin/meltano",
    ".venv-sdk-next/bin/python",
    ".dagster/runs.db",
)


def git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode not in {0, 1}:
        pytest.fail(f"git {' '.join(args)} failed: {proc.stderr.strip()}", pytrace=False)
    return proc.stdout


def tracked() -> list[str]:
    return [path for path in git("ls-files", "-z").split("\0") if path]


def test_no_tracked_file_is_a_broken_symlink():
    broken = [p for p in tracked() if (REPO / p).is_symlink() and not (REPO / p).exists()]
    assert broken == []


def test_no_tracked_file_is_a_run_artifact():
    committed = [
        path
        for path in tracked()
        if any(fnmatch.fnmatch(path, pattern) for pattern in RUN_ARTIFACTS)
    ]
    assert committed == []


@pytest.mark.parametrize("path", WRITTEN_BY_RUNS)
def test_what_a_run_writes_is_ignored(path: str):
    assert git("check-ignore", "--no-index", "-v", path), f"{path} is not ignored"


def test_license_is_the_apache_license_pyproject_declares():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (REPO / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_version_has_one_source_pyproject():
    import tap_spinvoices  # noqa: PLC0415 - the subject of the test

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert tap_spinvoices.__version__ == declared


def test_the_wheel_carries_the_license_and_only_the_tap(tmp_path: Path):
    uv = Path(sys.executable).with_name("uv")  # a test extra: the venv has it (uv.lock)
    proc = subprocess.run(
        [str(uv), "build", "--wheel", "--quiet", "--out-dir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("tap_spinvoices-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (license_file,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(license_file) == (REPO / "LICENSE").read_bytes()
    assert "tap_spinvoices/output/writer.py" in names
    assert "tap_spinvoices/schemas/invoice_items.json" in names
    assert not [n for n in names if n.startswith(("spapi_emulator/", "tests/"))]
