"""The handler modules import each other at the top and in one direction only: no module of
chidoan.handlers imports one that (directly or through others) imports it back, and none hides
such an import inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import chidoan.handlers

PACKAGE = "chidoan.handlers"
FOLDER = Path(chidoan.handlers.__file__).parent


def _handler_imports(node: ast.AST) -> set[str]:
    """The chidoan.handlers modules an import statement names."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name.startswith(PACKAGE + ".")}
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        if node.module == PACKAGE:
            return {f"{PACKAGE}.{a.name}" for a in node.names if (FOLDER / f"{a.name}.py").exists()}
        if node.module.startswith(PACKAGE + "."):
            return {node.module}
    return set()


def _modules() -> dict[str, ast.Module]:
    return {
        f"{PACKAGE}.{path.stem}": ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(FOLDER.glob("*.py"))
        if path.stem != "__init__"
    }


def test_no_function_level_imports_between_handlers():
    hidden = []
    for name, tree in _modules().items():
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                hidden += [f"{name}.{function.name} imports {m}" for m in _handler_imports(node)]
    assert hidden == []


def test_no_import_cycle_among_handlers():
    graph = {name: set().union(*map(_handler_imports, ast.walk(tree))) - {name} for name, tree in _modules().items()}

    def reaches(start: str) -> set[str]:
        seen, todo = set(), list(graph.get(start, ()))
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo += graph.get(module, ())
        return seen

    cycles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if a in reaches(b))
    assert cycles == []
