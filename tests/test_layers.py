"""The package's layers hold: no import goes up a layer, and no modules import each other in a circle.

The import graph is read from the source (ast): every `import` and `from ... import` anywhere in a module counts,
inside functions too (a deferred import is still a dependency) and under `if TYPE_CHECKING:` (a type is part of a
module's interface: a circle through annotations is still a circle). The registries' "module:Class" strings are not
imports: they name plugins, loaded by name when chosen, as entry points are."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "metacot"

# The one table of layers, bottom up: each top-level module or package of metacot, by the layer it belongs to. A
# module imports from its own layer and those below it. docs/design.md states the same table.
LAYERS: dict[str, tuple[str, ...]] = {
    "ground": ("tree", "treecheck", "seeding", "stop", "flags", "checks", "jsonl"),
    "core": ("problems", "backends", "policy", "prm", "search", "linearize"),
    "run": ("config", "conditioning", "presets", "assemble", "synth", "outputs", "distributed", "progress"),
    "applications": ("behaviors", "bench", "learn", "view", "cli"),
}
LAYER_OF = {unit: rank for rank, units in enumerate(LAYERS.values()) for unit in units}
NAMES = list(LAYERS)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str) -> set[str]:
    """The metacot names a module's imports name: modules, and (from `from m import x`) m.x, which is a module when
    x is a submodule."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n == "metacot" or n.startswith("metacot.")}


def import_graph(package: Path = PACKAGE) -> nx.DiGraph:
    """Modules of the package, and an edge from each to every module of the package it imports."""
    paths = {module_name(p, package.parent): p for p in sorted(package.rglob("*.py"))}
    graph = nx.DiGraph()
    for name, path in paths.items():
        graph.add_node(name)
        graph.add_edges_from((name, target) for target in imported(path, name) if target in paths and target != name)
    return graph


def unit(module: str) -> str:
    """The top-level module or package a module belongs to ("metacot" for the package's own __init__)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "metacot"


def layer(module: str) -> int:
    return -1 if module == "metacot" else LAYER_OF[unit(module)]  # the package's __init__: below everything


def upward(graph: nx.DiGraph) -> list[str]:
    return [
        f"{a} ({NAMES[layer(a)]}) imports {b} ({NAMES[layer(b)]})"
        for a, b in sorted(graph.edges)
        if layer(b) > layer(a)
    ]


def circles(graph: nx.DiGraph) -> list[list[str]]:
    return sorted(sorted(nx.simple_cycles(graph), key=len), key=len)


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return import_graph()


def test_every_top_level_module_has_a_layer(graph):
    units = {unit(m) for m in graph if m != "metacot"}
    assert units - set(LAYER_OF) == set(), "place each new top-level module in LAYERS (and docs/design.md)"
    assert set(LAYER_OF) - units == set(), "LAYERS names modules that do not exist"


def test_no_import_goes_up_a_layer(graph):
    assert upward(graph) == []


def test_no_modules_import_each_other_in_a_circle(graph):
    assert [" -> ".join([*c, c[0]]) for c in circles(graph)] == []


def test_the_design_page_states_the_same_layers():
    text = (ROOT / "docs" / "design.md").read_text()
    for name, units in LAYERS.items():
        row = re.search(rf"^\| {name} \| (.+?) \|", text, re.MULTILINE)
        assert row is not None, f"docs/design.md has no row for the {name} layer"
        assert sorted(re.findall(r"`(\w+)(?:/|\.py)`", row.group(1))) == sorted(units), name


def test_the_graph_sees_deferred_and_type_only_imports(tmp_path):
    package = tmp_path / "metacot"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low" / "__init__.py").write_text("from . import a\n")
    (package / "low" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from metacot.low.b import B\n"
    )
    (package / "low" / "b.py").write_text("def f():\n    from .a import x\n    import metacot.high\n")
    (package / "high.py").write_text("")
    graph = import_graph(package)
    assert set(graph.edges) == {
        ("metacot.low", "metacot.low.a"),
        ("metacot.low.a", "metacot.low.b"),
        ("metacot.low.b", "metacot.low.a"),
        ("metacot.low.b", "metacot.high"),
    }
    assert [set(c) for c in circles(graph)] == [{"metacot.low.a", "metacot.low.b"}]
