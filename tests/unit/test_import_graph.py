"""The package's layers: no import cycle (TYPE_CHECKING imports count), spapi/ stands alone.

grimp builds the graph of imports between the package's modules, including those under
``if TYPE_CHECKING:``; a cycle there still ties the modules together for the reader and for
mypy, so it counts.
"""

from __future__ import annotations

import graphlib
import textwrap

import grimp
import pytest

PACKAGE = "tap_spinvoices"
# What the SP-API layer may not import: it knows HTTP and Amazon, not Singer.
NOT_FOR_SPAPI = (
    "singer_sdk",
    f"{PACKAGE}.sync",
    f"{PACKAGE}.output",
    f"{PACKAGE}.streams",
    f"{PACKAGE}.tap",
    f"{PACKAGE}.sdk_compat",
)


def import_cycle(package: str) -> list[str]:
    """One import cycle among the modules of ``package`` (empty if there is none)."""
    graph = grimp.build_graph(package, cache_dir=None)
    sorter = graphlib.TopologicalSorter(
        {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle: list[str] = exc.args[1]
        return cycle
    return []


def test_the_package_has_no_import_cycle():
    cycle = import_cycle(PACKAGE)
    assert not cycle, f"import cycle: {' -> '.join(cycle)}"


def test_a_cycle_only_under_type_checking_is_found(tmp_path, monkeypatch):
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import cyclic.b\n")
    (package / "b.py").write_text(
        textwrap.dedent(
            """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from cyclic.a import something
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert set(import_cycle("cyclic")) == {"cyclic.a", "cyclic.b"}


def within(module: str, layer: str) -> bool:
    return module == layer or module.startswith(f"{layer}.")


@pytest.mark.parametrize("forbidden", NOT_FOR_SPAPI)
def test_the_spapi_layer_imports_no_singer_code(forbidden):
    graph = grimp.build_graph(PACKAGE, include_external_packages=True, cache_dir=None)
    imports = sorted(
        f"{module} imports {target}"
        for module in graph.modules
        if within(module, f"{PACKAGE}.spapi")
        for target in graph.find_modules_directly_imported_by(module)
        if within(target, forbidden)
    )
    assert not imports, imports


def test_the_layer_check_sees_external_imports():
    graph = grimp.build_graph(PACKAGE, include_external_packages=True, cache_dir=None)
    assert "singer_sdk" in graph.find_modules_directly_imported_by(f"{PACKAGE}.sdk_compat")
