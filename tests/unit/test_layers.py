"""Boundaries you can see: ``warehouse/`` is one package per stage of the data flow, on floors.

A module imports its own floor or a lower one, never a higher one (imports inside functions and under
``TYPE_CHECKING`` count); no modules import each other in a loop (run-time imports: a module-level or
function-level import); ``transforms/`` imports nothing of ``warehouse``. docs/ARCHITECTURE.md ("Code
layout") draws the same floors.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# lowest first; the top floor is the command line and the demo
FLOORS = ("foundation", "ingest", "core", "quality", "analytics", "serve", "ops", "top")
TOP = {"cli", "commands", "demo", "__init__"}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def floor_of(module: str) -> str | None:
    """The floor of a module of ``warehouse``; None for one in no floor (or not of warehouse)."""
    parts = module.split(".")
    if parts[0] != "warehouse":
        return None
    head = parts[1] if len(parts) > 1 else "__init__"
    if head in TOP:
        return "top"
    return head if head in FLOORS[:-1] else None


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(root: Path, path: Path, modules: set[str]) -> list[tuple[str, int, bool]]:
    """(imported module, line, at run time) for every import of ``path`` naming a module of the tree;
    ``from pkg import name`` names the submodule ``pkg.name`` when there is one."""
    me = module_name(root, path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, runtime: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for sub in child.body:
                    visit_one(sub, False)
                for sub in child.orelse:
                    visit_one(sub, runtime)
                continue
            visit_one(child, runtime)

    def visit_one(node: ast.AST, runtime: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, node.lineno, runtime))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                found.append((sub if sub in modules else mod, node.lineno, runtime))
        visit(node, runtime)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    found = list(dict.fromkeys(found))  # ``from m import a, b``: one import of m
    return [(m, line, rt) for m, line, rt in found if m in modules or m.split(".")[0] in {"warehouse", "transforms"}]


def graph(root: Path) -> tuple[dict[str, Path], dict[str, list[tuple[str, int, bool]]]]:
    files = {module_name(root, p): p for p in sorted((root / "warehouse").rglob("*.py"))}
    modules = set(files)
    return files, {m: imports_of(root, p, modules) for m, p in files.items()}


def upward_imports(root: Path) -> list[str]:
    files, edges = graph(root)
    bad = []
    for mod, targets in edges.items():
        mine = floor_of(mod)
        if mine is None:
            bad.append(f"{files[mod].relative_to(root)}: in no floor (put it in one of {', '.join(FLOORS[:-1])})")
            continue
        for target, line, _ in targets:
            theirs = floor_of(target)
            if theirs is not None and FLOORS.index(theirs) > FLOORS.index(mine):
                bad.append(f"{files[mod].relative_to(root)}:{line}: {mod} ({mine}) imports {target} ({theirs})")
    return bad


def cycles(root: Path) -> list[list[str]]:
    """Every loop of run-time imports between modules (strongly connected components, Tarjan)."""
    files, edges = graph(root)
    succ = {m: sorted({t for t, _, rt in ts if rt and t in files and t != m}) for m, ts in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(succ):
        if v not in index:
            strong(v)
    return out


def describe(root: Path, comp: list[str]) -> str:
    _, edges = graph(root)
    ties = [f"{m} -> {t} (line {line})" for m in comp for t, line, rt in edges[m] if rt and t in comp and t != m]
    return "cycle: " + ", ".join(comp) + "\n    " + "\n    ".join(ties)


def transforms_reaching_warehouse(root: Path) -> list[str]:
    bad = []
    for path in sorted((root / "transforms").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad += [f"{path.relative_to(root)}:{node.lineno}: imports {n}" for n in names
                    if n == "warehouse" or n.startswith("warehouse.")]
    return bad


def test_no_import_from_a_higher_floor() -> None:
    bad = upward_imports(ROOT)
    assert not bad, "imports from a higher floor (" + " < ".join(FLOORS) + "):\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    found = cycles(ROOT)
    assert not found, "\n".join(describe(ROOT, c) for c in found)


def test_transforms_import_nothing_of_warehouse() -> None:
    bad = transforms_reaching_warehouse(ROOT)
    assert not bad, "\n".join(bad)


def test_every_floor_package_is_there() -> None:
    assert [p for p in FLOORS[:-1] if not (ROOT / "warehouse" / p / "__init__.py").is_file()] == []


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """The checks above can fail: an upward import, a loop and a transforms import in a small tree."""
    files = {
        "warehouse/__init__.py": "",
        "warehouse/foundation/__init__.py": "",
        "warehouse/foundation/a.py": "def f():\n    from warehouse.core import b\n",
        "warehouse/core/__init__.py": "",
        "warehouse/core/b.py": "from warehouse.core.c import x\n",
        "warehouse/core/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from warehouse.core import d\n"
                               "from warehouse.core import b\nx = 1\n",
        "warehouse/core/d.py": "from warehouse.core import c\n",
        "transforms/__init__.py": "import warehouse.foundation.a\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert [b.split(": ", 1)[1] for b in upward_imports(tmp_path)] == [
        "warehouse.foundation.a (foundation) imports warehouse.core.b (core)"]
    assert cycles(tmp_path) == [["warehouse.core.b", "warehouse.core.c"]]  # c -> d only under TYPE_CHECKING
    assert transforms_reaching_warehouse(tmp_path) == ["transforms/__init__.py:1: imports warehouse.foundation.a"]
