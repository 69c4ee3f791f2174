"""No package imports in a cycle, TYPE_CHECKING imports included: the tap, the emulator, Dagster.

grimp builds the graph of imports between a package's modules by reading their source, never
importing them (orchestration/definitions.py imports dagster, which lives in .venv-dagster
only), and includes the imports under ``if TYPE_CHECKING:``: a cycle there still ties the
modules together for the reader and for mypy, so it counts.

Two checks. Between modules: no module imports itself back through others. Between the parts
of each package (its subpackages and modules, each taken whole): no part imports another that
imports it back, so a folder is a layer (spapi_emulator/state.py once imported
invoices/exports.py while invoices/routes.py imported the state: no two modules formed a
cycle, the two parts of the package did).
"""

from __future__ import annotations

import graphlib
import textwrap
from typing import TYPE_CHECKING

import grimp
import pytest

if TYPE_CHECKING:
    from pathlib import Path

PACKAGES = ("tap_spinvoices", "spapi_emulator", "orchestration")


def first_cycle(edges: dict[str, set[str]]) -> list[str]:
    """One cycle of a directed graph (empty if there is none)."""
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as exc:
        cycle: list[str] = exc.args[1]
        return cycle
    return []


def module_cycle(package: str) -> list[str]:
    """One import cycle among the modules of ``package`` (empty if there is none)."""
    graph = grimp.build_graph(package, cache_dir=None)
    return first_cycle({m: graph.find_modules_directly_imported_by(m) for m in graph.modules})


def part_cycle(package: str) -> list[str]:
    """One import cycle among the parts (direct subpackages and modules) of any package."""
    graph = grimp.build_graph(package, cache_dir=None)
    for parent in sorted(graph.modules):
        prefix = parent + "."

        def part(module: str, prefix: str = prefix) -> str | None:
            if not module.startswith(prefix):
                return None
            return prefix + module.removeprefix(prefix).split(".", 1)[0]

        edges: dict[str, set[str]] = {}
        for module in graph.find_descendants(parent):
            source = part(module)
            assert source is not None
            targets = {part(m) for m in graph.find_modules_directly_imported_by(module)}
            edges.setdefault(source, set()).update(t for t in targets if t and t != source)
        cycle = first_cycle(edges)
        if cycle:
            return cycle
    return []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_itself_back(package: str) -> None:
    cycle = module_cycle(package)
    assert not cycle, f"import cycle: {' -> '.join(cycle)}"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_part_of_a_package_imports_itself_back(package: str) -> None:
    cycle = part_cycle(package)
    assert not cycle, f"import cycle between parts of a package: {' -> '.join(cycle)}"


def test_orchestration_is_read_with_its_dagster_module_without_importing_dagster() -> None:
    graph = grimp.build_graph("orchestration", cache_dir=None)

    assert "orchestration.definitions" in graph.modules
    with pytest.raises(ImportError):
        __import__("dagster")  # not in this venv: the graph above was read, not imported


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


def test_a_cycle_only_under_type_checking_is_found(tmp_path, monkeypatch):
    write_package(
        tmp_path,
        {
            "cyclic/__init__.py": "",
            "cyclic/a.py": "import cyclic.b\n",
            "cyclic/b.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from cyclic.a import something
                """,
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    assert set(module_cycle("cyclic")) == {"cyclic.a", "cyclic.b"}


def test_a_cycle_between_a_folder_and_a_module_beside_it_is_found(tmp_path, monkeypatch):
    # The emulator's old shape: routes -> pipeline -> state -> api.exports, routes in api/.
    write_package(
        tmp_path,
        {
            "layered/__init__.py": "",
            "layered/pipeline.py": "import layered.state\n",
            "layered/state.py": "import layered.api.exports\n",
            "layered/api/__init__.py": "",
            "layered/api/exports.py": "",
            "layered/api/routes.py": "import layered.pipeline\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    assert module_cycle("layered") == []
    assert set(part_cycle("layered")) == {"layered.api", "layered.pipeline", "layered.state"}
