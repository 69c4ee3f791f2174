"""The pre-commit hooks run exactly the static checks CI runs, with the same executables."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def ci_static_checks() -> list[str]:
    """The ruff and mypy lines of .ci/run, in order."""
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    return [line for line in lines if line.startswith((".venv/bin/ruff", ".venv/bin/mypy"))]


def test_pre_commit_hooks_are_cis_ruff_and_mypy_commands():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    (local,) = config["repos"]
    assert local["repo"] == "local"
    hooks = local["hooks"]
    assert [hook["entry"] for hook in hooks] == ci_static_checks()
    # The whole tree, like CI: mypy and ruff read their file lists from pyproject.toml.
    assert all(hook["pass_filenames"] is False for hook in hooks)
    assert all(hook["language"] == "system" for hook in hooks)


def test_ci_runs_ruff_check_ruff_format_and_mypy():
    assert ci_static_checks() == [
        ".venv/bin/ruff check .",
        ".venv/bin/ruff format --check .",
        ".venv/bin/mypy",
    ]
