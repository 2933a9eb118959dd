"""One name, one table: the names the SQL code gives its tables (`X = table(Model)`,
`X = aliased(...)`, `.alias("name")` in the SQL) say what they are (never one or two letters),
each name means the same table in every module, and each table is called by the same name
everywhere."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import chidoan

SOURCE = Path(chidoan.__file__).parent


def _table_names() -> list[tuple[str, str, str]]:
    """(module, name, what it names) for every table alias in the code."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
                continue
            call = node.value
            if isinstance(call.func, ast.Attribute) and call.func.attr == "alias" and call.args:
                sql_name = ast.literal_eval(call.args[0])  # the name the SQL itself uses
                found.append((str(path.relative_to(SOURCE)), sql_name, f"alias({ast.unparse(call.func.value)})"))
            if isinstance(call.func, ast.Name) and call.func.id in ("table", "aliased") and call.args:
                what = f"{call.func.id}({ast.unparse(call.args[0])})"
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found.append((str(path.relative_to(SOURCE)), target.id, what))
    return found


def test_table_aliases_are_words():
    names = _table_names()
    assert len(names) > 50  # the scan sees the code
    assert [(m, n) for m, n, _ in names if len(n.strip("_")) <= 2] == []


def test_one_name_one_table():
    meanings, names = defaultdict(set), defaultdict(set)
    for _module, name, what in _table_names():
        meanings[name].add(what)
        names[what].add(name)
    assert {n: m for n, m in meanings.items() if len(m) > 1} == {}
    assert {w: n for w, n in names.items() if len(n) > 1 and w.startswith("table(")} == {}
