r"""Write meltano-hub/*.yml: plugin definitions for other Meltano projects, from meltano.yml.

    .venv/bin/python scripts/meltano_plugin_ref.py          # rewrite them from meltano.yml
    .venv/bin/python scripts/meltano_plugin_ref.py --check  # exit 1 if one is out of date

Users add the tap (and, offline, target-jsonl: Meltano Hub is not needed) to their own
project, with this repository at tap-spinvoices/ in it (a clone, a git submodule or a
symlink to a checkout)::

    meltano add --plugin-type extractor tap-spinvoices \\
        --from-ref tap-spinvoices/meltano-hub/tap-spinvoices.yml
    meltano add --plugin-type loader target-jsonl \\
        --from-ref tap-spinvoices/meltano-hub/target-jsonl.yml

Each definition is this repository's own meltano.yml entry (settings, capabilities). The
tap's ``pip_url`` is ``$MELTANO_PROJECT_ROOT/tap-spinvoices``: Meltano expands it to the same
path on every install, so a missing folder fails with uv's "Distribution not found at: <path>"
and leaves the installed venv as it was (an unset variable would have made Meltano wipe it and
fail with a uv usage error). Meltano copies the definition into the user's meltano.yml, where
pip_url can point at a git URL or a wheel instead.
"""

# ruff: noqa: INP001 - a script, not a package module

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
MELTANO_YML = REPO / "meltano.yml"
HUB = REPO / "meltano-hub"
FOLDER = "tap-spinvoices"  # where the user's project holds this repository
TAP_PIP_URL = f"$MELTANO_PROJECT_ROOT/{FOLDER}"
# The keys of a meltano.yml plugin entry a plugin definition carries.
KEYS = (
    "name",
    "namespace",
    "pip_url",
    "executable",
    "capabilities",
    "settings_group_validation",
    "settings",
)


@dataclass(frozen=True)
class Ref:
    """One plugin definition: which meltano.yml entry, and what it says of itself."""

    plugin_type: str  # meltano.yml's key: extractors, loaders
    name: str
    label: str
    description: str
    pip_url: str | None = None  # None: the entry's own

    @property
    def path(self) -> Path:
        """The definition's file under meltano-hub/."""
        return HUB / f"{self.name}.yml"

    @property
    def header(self) -> str:
        """The comment that opens the file: how to add the plugin."""
        kind = self.plugin_type.removesuffix("s")
        return (
            f"# {self.name} for your own Meltano project, with this repository at {FOLDER}/ in "
            "it\n# (a clone, a git submodule, or a symlink to a checkout):\n#\n"
            f"#   meltano add --plugin-type {kind} {self.name} \\\n"
            f"#       --from-ref {FOLDER}/meltano-hub/{self.name}.yml\n#\n"
            "# Written by scripts/meltano_plugin_ref.py from this repository's meltano.yml: "
            "edit that.\n"
        )


REFS = (
    Ref(
        "extractors",
        "tap-spinvoices",
        "Amazon SP-API invoices",
        "Vendor Direct Fulfillment customer invoices and Invoices API (Brazil NF-e) "
        "from the Amazon Selling Partner API",
        pip_url=TAP_PIP_URL,
    ),
    Ref(
        "loaders",
        "target-jsonl",
        "JSON Lines",
        "One <stream>.jsonl file per stream (appends; no upsert)",
    ),
)


def definition(project: dict[str, Any], ref: Ref) -> dict[str, Any]:
    """The plugin definition built from meltano.yml's entry for ``ref``."""
    (entry,) = [p for p in project["plugins"][ref.plugin_type] if p["name"] == ref.name]
    entry = {**entry, "pip_url": ref.pip_url or entry["pip_url"]}
    result: dict[str, Any] = {"name": entry["name"], "namespace": entry["namespace"]}
    result.update({"label": ref.label, "description": ref.description})
    result.update({key: entry[key] for key in KEYS if key in entry and key not in result})
    return result


def render(ref: Ref) -> str:
    """The definition file's text."""
    project = yaml.safe_load(MELTANO_YML.read_text())
    body = yaml.safe_dump(definition(project, ref), sort_keys=False, allow_unicode=True, width=100)
    return ref.header + body


def main(argv: list[str]) -> int:
    """Rewrite (or with --check, verify) every file of meltano-hub/."""
    stale = []
    for ref in REFS:
        text = render(ref)
        current = ref.path.read_text() if ref.path.exists() else ""
        if text == current:
            continue
        if "--check" in argv:
            stale.append(ref.path)
            continue
        ref.path.parent.mkdir(exist_ok=True)
        ref.path.write_text(text)
        sys.stdout.write(f"{ref.path.relative_to(REPO)}: written\n")
    for path in stale:
        sys.stderr.write(f"{path} is out of date: run scripts/meltano_plugin_ref.py\n")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
