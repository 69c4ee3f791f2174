"""spapi/ (Amazon over HTTP) stands on its own: no Singer, no settings, no upper layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SPAPI = Path(__file__).resolve().parents[2] / "tap_spinvoices" / "spapi"
# What spapi/ must never import, not even under TYPE_CHECKING.
FORBIDDEN = (
    "singer_sdk",
    "tap_spinvoices.sync",
    "tap_spinvoices.output",
    "tap_spinvoices.streams",
    "tap_spinvoices.tap",
    "tap_spinvoices.settings",
    "tap_spinvoices.sdk_compat",
)


def imported_modules(source: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


@pytest.mark.parametrize("module", sorted(SPAPI.glob("*.py")), ids=lambda path: path.name)
def test_spapi_module_imports_no_upper_layer(module):
    bad = {
        name
        for name in imported_modules(module.read_text(encoding="utf-8"))
        for forbidden in FORBIDDEN
        if name == forbidden or name.startswith(f"{forbidden}.")
    }
    assert not bad, f"{module.name} imports {sorted(bad)}"


def test_the_check_sees_imports_under_type_checking():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from tap_spinvoices import settings\n"
    )
    assert "tap_spinvoices.settings" in imported_modules(source)
