"""Run Meltano on this repo's meltano.yml, isolated from the developer's own state and .env."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALL_HINT = (
    "install it in its own venv: `python3 -m venv .venv-meltano && "
    ".venv-meltano/bin/pip install meltano` (scripts/demo and .ci/run do this), "
    "or set MELTANO_BIN to a meltano executable"
)
PLUGINS = {
    "tap-spinvoices": REPO / ".meltano/extractors/tap-spinvoices/venv/bin/tap-spinvoices",
    "target-jsonl": REPO / ".meltano/loaders/target-jsonl/venv/bin/target-jsonl",
    "target-postgres": REPO / ".meltano/loaders/target-postgres/venv/bin/target-postgres",
}


class MeltanoUnavailableError(RuntimeError):
    """Meltano or one of its plugins cannot be run here; the message says why."""


def find_meltano() -> Path:
    """$MELTANO_BIN, else .venv-meltano/bin/meltano, else meltano on PATH."""
    candidates = [os.environ.get("MELTANO_BIN"), str(REPO / ".venv-meltano/bin/meltano")]
    candidates.append(shutil.which("meltano"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise MeltanoUnavailableError(f"Meltano not found: {INSTALL_HINT}")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without settings that would leak into a plugin or Meltano's state."""
    prefixes = ("TAP_SPINVOICES_", "TARGET_", "MELTANO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


@dataclass(frozen=True)
class Meltano:
    """The meltano executable run in the repo, against a state database of its own."""

    executable: Path
    database_uri: str

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.executable), *args],
            cwd=REPO,
            env=clean_env(MELTANO_DATABASE_URI=self.database_uri, **(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def install(self) -> None:
        """`meltano install`: the plugins' venvs under .meltano/ (needs PyPI; seconds if done)."""
        proc = self.run("install", timeout=900)
        missing = [name for name, path in PLUGINS.items() if not path.is_file()]
        if proc.returncode != 0 or missing:
            raise MeltanoUnavailableError(
                f"`meltano install` failed (exit {proc.returncode}; missing: {missing}):\n"
                f"{tail(proc.stderr)}"
            )


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])
