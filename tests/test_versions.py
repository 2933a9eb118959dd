"""A registered plan and a report of an event are one concept, a versioned record (a row that
counts its versions, and the versions kept as history): written once, in storage/versions.py.
The behaviour is pinned by the registration, report, meeting, dialogue and review tests."""

from __future__ import annotations

import ast
from pathlib import Path

import chidoan
from chidoan.storage import registrations, reports
from chidoan.storage.models import RegistrationVersion, ReportVersion, table
from chidoan.storage.versions import Versioned

SOURCE = Path(chidoan.__file__).parent
VERSION_TABLES = {"REG_VER", "REP_VER"}
RECORD_TABLES = {"REG", "REP"}


def _versioning_outside(path: Path) -> list[str]:
    """Version rows inserted, or a record's version number set, other than through Versioned."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        target = node.func.value
        while isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute):
            target = target.func.value  # REG.update().where(...).values(version=...)
        name = target.id if isinstance(target, ast.Name) else ""
        if name in VERSION_TABLES and node.func.attr == "insert":
            found.append(f"{path.name}:{node.lineno} {name}.insert()")
        sets_version = node.func.attr == "values" and any(k.arg == "version" for k in node.keywords)
        if name in RECORD_TABLES and sets_version and "update()" in ast.unparse(node):
            found.append(f"{path.name}:{node.lineno} {name} version set")
    return found


def test_plans_and_reports_are_versioned_by_one_piece_of_code():
    outside = [hit for path in sorted(SOURCE.rglob("*.py")) for hit in _versioning_outside(path)]
    assert outside == []
    assert isinstance(registrations.REGISTRATION_VERSIONS, Versioned)
    assert isinstance(reports.REPORT_VERSIONS, Versioned)
    assert registrations.REGISTRATION_VERSIONS.versions is table(RegistrationVersion)
    assert reports.REPORT_VERSIONS.versions is table(ReportVersion)
