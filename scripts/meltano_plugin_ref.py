r"""Write meltano-hub/tap-spinvoices.yml: the extractor's definition for other Meltano projects.

    .venv/bin/python scripts/meltano_plugin_ref.py          # rewrite it from meltano.yml
    .venv/bin/python scripts/meltano_plugin_ref.py --check  # exit 1 if it is out of date

Users add the tap to their own project in one command::

    SPINVOICES_PIP_URL=<where pip gets the tap> \\
        meltano add extractor tap-spinvoices --from-ref <this file's path or URL>

The definition is this repository's own meltano.yml extractor (settings, capabilities), with
``pip_url: $SPINVOICES_PIP_URL`` (Meltano expands variables in pip_url): a git URL of this
repository, a local checkout or a wheel, whichever the user installs from.
"""

# ruff: noqa: INP001 - a script, not a package module

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
MELTANO_YML = REPO / "meltano.yml"
PLUGIN_REF = REPO / "meltano-hub" / "tap-spinvoices.yml"
PIP_URL = "$SPINVOICES_PIP_URL"
HEADER = """\
# tap-spinvoices for your own Meltano project (written by scripts/meltano_plugin_ref.py from
# this repository's meltano.yml; edit that, not this file):
#
#   SPINVOICES_PIP_URL=<git URL of this repository, a local checkout, or a wheel> \\
#       meltano add extractor tap-spinvoices --from-ref <path or URL of this file>
#
# Keep SPINVOICES_PIP_URL in your project's .env: `meltano install` reads it again.
"""
# The keys of meltano.yml's extractor entry a plugin definition carries.
KEYS = ("name", "namespace", "executable", "capabilities", "settings_group_validation", "settings")


def definition(project: dict[str, Any]) -> dict[str, Any]:
    """The plugin definition built from meltano.yml's tap-spinvoices extractor."""
    (extractor,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-spinvoices"]
    ref: dict[str, Any] = {
        "name": extractor["name"],
        "namespace": extractor["namespace"],
        "label": "Amazon SP-API invoices",
        "description": (
            "Vendor Direct Fulfillment customer invoices and Invoices API (Brazil NF-e) "
            "from the Amazon Selling Partner API"
        ),
        "pip_url": PIP_URL,
    }
    ref.update({key: extractor[key] for key in KEYS if key in extractor and key not in ref})
    return ref


def render() -> str:
    """The file's text."""
    project = yaml.safe_load(MELTANO_YML.read_text())
    body = yaml.safe_dump(definition(project), sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def main(argv: list[str]) -> int:
    """Rewrite (or with --check, verify) meltano-hub/tap-spinvoices.yml."""
    text = render()
    current = PLUGIN_REF.read_text() if PLUGIN_REF.exists() else ""
    if "--check" in argv:
        if text != current:
            sys.stderr.write(f"{PLUGIN_REF} is out of date: run scripts/meltano_plugin_ref.py\n")
            return 1
        return 0
    if text != current:
        PLUGIN_REF.parent.mkdir(exist_ok=True)
        PLUGIN_REF.write_text(text)
        sys.stdout.write(f"{PLUGIN_REF.relative_to(REPO)}: written\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
