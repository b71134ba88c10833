"""The house runs one way: no library module imports the CLI, and no two modules import each
other in a circle (read from the sources' own import statements, nothing run)."""

from __future__ import annotations

import ast
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Source folder -> the package it installs as (pyproject's package-dir).
PACKAGES = {
    "reasoning_distill": "reasoning_distill",
    "verifiers": "reasoning_distill.verifiers",
    "eval": "reasoning_distill.eval",
    "data_recipes": "reasoning_distill.data_recipes",
}


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if folder == "reasoning_distill" and parts and parts[0] in PACKAGES:
                continue
            found[name] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports, at the top or inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for n in names:
            while n and n not in known:
                n = n.rpartition(".")[0]
            if n and n != name:
                out.add(n)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_no_library_module_imports_the_cli():
    cli = "reasoning_distill.cli"
    offenders = {
        name: sorted(d for d in deps if d == cli or d.startswith(cli + "."))
        for name, deps in _graph().items()
        if not (name == cli or name.startswith(cli + "."))
    }
    assert {n: d for n, d in offenders.items() if d} == {}


def test_no_import_circles():
    graph = _graph()
    # Package faces only hand names on; an edge into one is an edge into what it re-exports.
    circles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for dep in graph.get(node, ()):
            if dep.endswith("__init__") or graph.get(dep) is None:
                continue
            if state.get(dep) == "open":
                circles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    # A package importing its own submodule (its face) is not a circle of files.
    real = [
        c
        for c in circles
        if not any(a.startswith(b + ".") or b.startswith(a + ".") for a, b in pairwise(c))
    ]
    assert real == []
