"""spapi/ has a curated public surface: each module's ``__all__``, and the package's own.

Code outside a spapi module (the other spapi modules, the layers above, orchestration,
scripts, benchmarks) imports only names that module lists in ``__all__``; tests may look
deeper. The package re-exports the layer's front door, each name from the module that owns it.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tap_spinvoices import spapi

REPO = Path(__file__).resolve().parents[2]
SPAPI = REPO / "tap_spinvoices" / "spapi"
MODULES = sorted(
    f"tap_spinvoices.spapi.{p.stem}" for p in SPAPI.glob("*.py") if p.stem != "__init__"
)
# Every file whose imports must keep to the public surface (tests are white-box on purpose).
USERS = [
    path
    for folder in ("tap_spinvoices", "orchestration", "scripts", "benchmarks")
    for path in sorted((REPO / folder).rglob("*.py"))
]


def imported_names(path: Path) -> list[tuple[str, str, int]]:
    """(module, name, line) for each ``from tap_spinvoices.spapi.X import name`` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module in MODULES:
            found.extend((node.module, alias.name, node.lineno) for alias in node.names)
    return found


@pytest.mark.parametrize("module", MODULES)
def test_each_module_lists_names_it_defines(module: str):
    loaded = importlib.import_module(module)
    names: list[str] = loaded.__all__
    assert names, f"{module} has an empty __all__"
    assert [n for n in names if not hasattr(loaded, n)] == []
    assert [n for n in names if n.startswith("_")] == []


def test_code_outside_a_module_imports_only_its_public_names():
    outside_all = [
        f"{path.relative_to(REPO)}:{line} imports {name} from {module}"
        for path in USERS
        for module, name, line in imported_names(path)
        if name not in importlib.import_module(module).__all__
    ]
    assert outside_all == []


def test_the_package_re_exports_public_names_of_its_modules():
    owners = {
        name: module
        for module in MODULES
        for name in importlib.import_module(module).__all__
        if name in spapi.__all__
    }
    assert sorted(owners) == sorted(spapi.__all__)
    for name, module in owners.items():
        assert getattr(spapi, name) is getattr(importlib.import_module(module), name)


def test_star_import_gives_exactly_the_front_door():
    namespace: dict[str, object] = {}
    exec("from tap_spinvoices.spapi import *", namespace)  # noqa: S102 - a fixed import line
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(spapi.__all__)
