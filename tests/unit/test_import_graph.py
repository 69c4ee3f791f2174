"""The package's modules import each other without a cycle, TYPE_CHECKING imports included.

grimp builds the graph of imports between the package's modules, including those under
``if TYPE_CHECKING:``; a cycle there still ties the modules together for the reader and for
mypy, so it counts.
"""

from __future__ import annotations

import graphlib
import textwrap

import grimp

PACKAGE = "tap_spinvoices"


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
