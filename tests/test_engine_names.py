""" "Engine" in the code is the conversation engine (chidoan.engine); SQLAlchemy's engine, the
database handle, is called `db` (made by `storage.db.make_db`). A name with "engine" in it that
holds the database would read as the other thing."""

from __future__ import annotations

import ast
from pathlib import Path

import chidoan

SOURCE = Path(chidoan.__file__).parent
MAKERS = {"create_engine", "make_engine", "make_db", "_db", "_engine"}  # what returns a database handle
DB_USES = {"begin", "connect", "dispose"}  # what is done only with a database handle


def _named_engine(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Name) and "engine" in node.id.lower()


def _database_named_engine(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    sqlalchemy_engine = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy"
        for alias in node.names
        if alias.name == "Engine"
    }
    is_db_type = lambda a: isinstance(a, ast.Name) and a.id in sqlalchemy_engine  # noqa: E731
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(SOURCE)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.arg) and "engine" in node.arg.lower() and is_db_type(node.annotation):
            found.append(f"{where} parameter {node.arg}")
        elif isinstance(node, ast.FunctionDef) and "engine" in node.name.lower() and is_db_type(node.returns):
            found.append(f"{where} function {node.name}")
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Name) and func.id in MAKERS and any(map(_named_engine, node.targets)):
                found.append(f"{where} variable from {func.id}")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "unit_of_work" and node.args and _named_engine(node.args[0]):
                found.append(f"{where} unit_of_work({node.args[0].id})")
            elif isinstance(func, ast.Attribute) and func.attr in DB_USES and _named_engine(func.value):
                found.append(f"{where} {func.value.id}.{func.attr}()")
    return found


def test_the_database_is_not_called_engine():
    found = [hit for path in sorted(SOURCE.rglob("*.py")) for hit in _database_named_engine(path)]
    assert found == []
