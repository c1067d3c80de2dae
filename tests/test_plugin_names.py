"""An extension owns its facts: no module outside a registry compares a plugin's name (a strategy, domain, format,
backend or tagger) with a literal. Such a branch is a fact of one plugin written elsewhere, which a plugin
registered under another name (or a new one) silently misses."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "metacot"

# Names that hold a plugin's name, as a variable or an attribute (`tree.search`, `domain_name`, `config.backend`).
PLUGIN_NAMES = {"search", "search_name", "strategy", "domain_name", "format", "fmt", "backend", "tagger", "tagger_name"}
# Plugins whose `.name` is their registered name (`domain.name`, `self.tagger.name`).
PLUGINS = {"domain", "tagger", "policy", "prm", "backend", "strategy", "search", "format"}
# Where a plugin's own name may be compared: the registries, and each plugin's own module (which defines its name).
ALLOWED: set[str] = set()


def named_plugin(node: ast.expr) -> str | None:
    """The variable or attribute name of an expression that holds a plugin's name, else None."""
    if isinstance(node, ast.Attribute) and node.attr == "name":
        owner = named(node.value)
        return f"{owner}.name" if owner in PLUGINS else None
    name = named(node)
    return name if name in PLUGIN_NAMES else None


def named(node: ast.expr) -> str | None:
    """A variable's name, or an attribute's."""
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def is_literal(node: ast.expr) -> bool:
    """A string literal, or a tuple, list or set of them (what `in` compares with)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return bool(node.elts) and all(is_literal(e) for e in node.elts)
    return False


def name_comparisons(source: str) -> list[tuple[int, str]]:
    """(line, what is compared) for each comparison of a plugin name with a string literal: ==, !=, in, not in,
    is, and a match statement's string cases."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for a, b in zip(operands, operands[1:], strict=False):
                for named, other in ((a, b), (b, a)):
                    plugin = named_plugin(named)
                    if plugin is not None and is_literal(other):
                        found.append((node.lineno, f"{plugin} compared with {ast.unparse(other)}"))
        elif isinstance(node, ast.Match):
            plugin = named_plugin(node.subject)
            cases = [c.pattern for c in node.cases]
            if plugin is not None and any(
                isinstance(p, ast.MatchValue) and is_literal(p.value) for p in cases
            ):
                found.append((node.lineno, f"match on {plugin}"))
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_outside_a_registry_compares_a_plugin_name():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
        for path in modules()
        if str(path.relative_to(PACKAGE.parent)) not in ALLOWED
        for line, what in name_comparisons(path.read_text())
    ]
    assert found == [], "compare no plugin's name outside a registry; let the plugin say it:\n" + "\n".join(found)


def test_the_allowed_files_exist():
    assert all((PACKAGE.parent / path).is_file() for path in ALLOWED)


@pytest.mark.parametrize(
    "source",
    [
        'if tree.search == "beam": pass',
        'ok = "countdown" != domain.name',
        'ok = domain_name in ("math", "countdown")',
        'ok = config.backend in {"vllm"}',
        'match fmt:\n    case "sos":\n        pass',
        'ok = a < record.format == "tokens"',
        'ok = self.domain.name == "countdown"',
    ],
)
def test_the_checker_finds_a_comparison_of_a_plugin_name(source):
    assert name_comparisons(source)


@pytest.mark.parametrize(
    "source",
    [
        "ok = strategy in SEARCHES",
        "ok = domain.name == other.name",
        'ok = node.step == "x"',
        'ok = name.startswith("x")',
        'ok = path.name == "prime"',
        'ok = name == "all"',
    ],
)
def test_the_checker_passes_what_is_no_such_comparison(source):
    assert name_comparisons(source) == []
