"""Arrows one way: no module of the layer's package, nor of the local stack, imports one that imports it
back, at module level or through a lazy import inside a function (a lazy import only hides a cycle).

Every import statement is read from the source, wherever it stands (module level, functions, `if
TYPE_CHECKING:` blocks), so the graph is what a reader sees, not what one run happens to import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from local.template import ROOT

PACKAGES = {"delivery_otp": ROOT / "layers" / "shared" / "delivery_otp", "local": ROOT / "local"}


def modules(package: str) -> dict[str, Path]:
    """Every module of the package by dotted name (a subpackage's `__init__` under the subpackage's name)."""
    root = PACKAGES[package]
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = (package, *path.relative_to(root).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's own modules that the module imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                # `from package import module` imports the module; `from module import name`, the module.
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {target for target in targets if target in known and target != name}


def graph(package: str) -> dict[str, set[str]]:
    known = modules(package)
    return {name: imported(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def a_loop(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One path around a cycle of the component, from its first module back to it (for the message)."""
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(edges[node] & set(component)):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"{component} is not a cycle")


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_module_imports_one_that_imports_it_back(package):
    edges = graph(package)
    loops = [" -> ".join(a_loop(component, edges)) for component in cycles(edges)]
    assert not loops, f"import cycles in {package}: {loops}"


def test_the_graph_sees_lazy_and_type_checking_imports(tmp_path, monkeypatch):
    # Given a package whose modules import each other back only inside a function and a TYPE_CHECKING block
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f():\n    from .sub.c import g\n")
    (package / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import x\nimport pkg.b as b\n"
    )
    monkeypatch.setitem(PACKAGES, "pkg", package)
    # When the graph is read
    edges = graph("pkg")
    # Then every kind of import is an arrow, and the cycle through them is found
    assert edges == {
        "pkg": set(),
        "pkg.sub": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub.c": {"pkg.a", "pkg.b"},
    }
    assert cycles(edges) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    assert a_loop(["pkg.a", "pkg.b", "pkg.sub.c"], edges) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]
