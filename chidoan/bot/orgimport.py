"""Import the org tree from a CSV or XLSX file that a province or district office keeps.

Columns: code, name, kind, parent_code and an optional reviews. The whole file is checked
before anything is written, and written in one transaction: a half-imported tree would leave
units without their parents and is worse than no import at all.

A unit already stored keeps its kind, but the file may rename it and move it: a parent_code
other than its parent's moves it there with its whole subtree (every path rewritten in one
UPDATE). The parent must still be of a strictly higher level, a unit never goes under itself
or its own subtree, and nothing goes under a unit merged into another (`chidoan org merge`,
bot/orgmerge.py): re-importing an old file after a merge is refused, not undone. Each move and
each rename is written to org_change, the tree's audit trail.
"""

from __future__ import annotations

import csv
import io
import sys
import unicodedata
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import cast

from sqlalchemy import Engine, Row, String
from tqdm import tqdm

from chidoan.i18n import LOCALES, N_, Lazy, fold, gettext
from chidoan.storage.clock import utcnow
from chidoan.storage.models import KIND_LEVEL, REVIEWER_KINDS, OrgChangeKind, OrgUnit, UnitKind, table
from chidoan.storage.uow import unit_of_work

REQUIRED_COLUMNS = ("code", "name", "kind", "parent_code")
COLUMNS = (*REQUIRED_COLUMNS, "reviews")

UNIT = table(OrgUnit)


def _length(column: str) -> int:
    length = cast(String, UNIT.c[column].type).length
    assert length is not None, f"org_unit.{column} has a length"
    return length


MAX_CODE = _length("code")
MAX_NAME = _length("name")

# Keys are folded (lower case, no accents, "_" read as a space), so "Chi Đoàn", "chi doan" and
# "branch" all land here.
KIND_WORDS = {
    "province": UnitKind.province,
    "tinh": UnitKind.province,
    "tinh doan": UnitKind.province,
    "thanh doan": UnitKind.province,
    "district": UnitKind.district,
    "huyen": UnitKind.district,
    "huyen doan": UnitKind.district,
    "quan doan": UnitKind.district,
    "thi doan": UnitKind.district,
    "base unit": UnitKind.base_unit,
    "co so": UnitKind.base_unit,
    "doan co so": UnitKind.base_unit,
    "branch group": UnitKind.branch_group,
    "lien chi": UnitKind.branch_group,
    "lien chi doan": UnitKind.branch_group,
    "branch": UnitKind.branch,
    "chi doan": UnitKind.branch,
}
KIND_HINT = "tỉnh, huyện, cơ sở, liên chi, chi đoàn"

TRUE_WORDS = {"1", "x", "yes", "co", "true"}
# Anything else is a typo we would rather report than silently read as "no".
FALSE_WORDS = {"0", "no", "khong", "false"}

# "<child> cannot be under <parent>": how each kind reads as subject and as object.
KIND_AS_CHILD = {
    UnitKind.province: Lazy(N_("a province-level unit")),
    UnitKind.district: Lazy(N_("a unit directly above the base units")),
    UnitKind.base_unit: Lazy(N_("a base unit")),
    UnitKind.branch_group: Lazy(N_("a branch group")),
    UnitKind.branch: Lazy(N_("a branch")),
}
KIND_AS_PARENT = {
    UnitKind.province: Lazy(N_("a province union")),
    UnitKind.district: Lazy(N_("a union directly above the base units")),
    UnitKind.base_unit: Lazy(N_("a base unit")),
    UnitKind.branch_group: Lazy(N_("a branch group")),
    UnitKind.branch: Lazy(N_("a branch")),
}


class Said:
    """A text for the operator kept as its msgid and parameters, worded in the command's language
    (`render(voice.t)`); `str()` is the default language's."""

    msgid: str
    params: Mapping[str, object]

    def render(self, t: Callable[..., str]) -> str:
        return t(self.msgid, **self.params)

    def __str__(self) -> str:
        return self.render(partial(gettext, LOCALES[0]))

    @property
    def message(self) -> str:
        """The text alone (without "Row N:"), in the default language."""
        return gettext(LOCALES[0], self.msgid, **self.params)


@dataclass(frozen=True)
class Problem(Said):
    row: int | None  # as the user sees it: the header is row 1
    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)

    def render(self, t: Callable[..., str]) -> str:
        text = t(self.msgid, **self.params)
        return t(N_("Row {row}: {problem}"), row=self.row, problem=text) if self.row is not None else text


@dataclass
class ImportResult:
    created: int
    updated: int  # only units whose name or reviews actually changed
    problems: list[Problem]
    moved: int = 0  # stored units put under another parent (with their subtrees)

    @property
    def ok(self) -> bool:
        return not self.problems


class OrgFileError(Said, Exception):
    """The file as a whole cannot be used; the message is for the operator."""

    def __init__(self, msgid: str, **params: object):
        super().__init__(msgid)
        self.msgid, self.params = msgid, params


@dataclass(frozen=True)
class Line:
    """One data row as read: normalised text, not yet checked."""

    row: int
    code: str
    name: str
    kind: str
    parent_code: str
    reviews: str


@dataclass(frozen=True)
class Planned:
    """One checked row, ready to write; `existing` is the unit it updates, if any."""

    row: int
    code: str
    name: str
    kind: UnitKind
    parent_code: str | None
    reviews: bool
    existing: Row | None
    moves: bool = False  # `existing` goes under another parent


# --- reading -----------------------------------------------------------------------------------


def read_rows(path: Path) -> list[Line]:
    """The data rows of a CSV or XLSX file; raises OrgFileError when the file cannot be used."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise OrgFileError(N_("File {path} not found."), path=str(path)) from exc
    except OSError as exc:
        raise OrgFileError(N_("File {path} cannot be opened."), path=str(path)) from exc
    if data.startswith(b"PK\x03\x04"):
        table = _xlsx_table(data)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise OrgFileError(N_("Old Excel files (.xls) are not supported yet: save it again as .xlsx or CSV UTF-8."))
    else:
        table = _csv_table(data)
    return _lines(table)


def _csv_table(data: bytes) -> list[list[str]]:
    if b"\x00" in data:
        raise OrgFileError(N_("The file is neither CSV nor XLSX: use an .xlsx file or CSV UTF-8."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OrgFileError(
            N_("The CSV file is not in UTF-8: in Excel choose Save As → “CSV UTF-8”, or use an .xlsx file.")
        ) from exc
    # Excel in a Vietnamese locale writes ";" between columns; the header line tells which it is.
    header = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((",", ";", "\t"), key=header.count)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise OrgFileError(N_("The CSV file is malformed: {error}"), error=str(exc)) from exc


def _xlsx_table(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook  # only paid for by those who upload spreadsheets

    unreadable = N_("The Excel file cannot be read: check that it really is an .xlsx file.")
    # openpyxl fails in many ways on a damaged file, some only while reading rows lazily.
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001
        raise OrgFileError(unreadable) from exc
    try:
        if not workbook.worksheets:
            return []
        return [[_cell_text(v) for v in values] for values in workbook.worksheets[0].iter_rows(values_only=True)]
    except Exception as exc:  # noqa: BLE001
        raise OrgFileError(unreadable) from exc
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    # Codes typed as numbers come back as 101 or 101.0; the user meant "101".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _lines(table: list[list[str]]) -> list[Line]:
    numbered = [(number, [_clean(cell) for cell in cells]) for number, cells in enumerate(table, start=1)]
    numbered = [(number, cells) for number, cells in numbered if any(cells)]
    if not numbered:
        raise OrgFileError(
            N_("The file is empty: it needs a header row (code, name, kind, parent_code) and rows of units.")
        )
    _, header = numbered[0]
    index: dict[str, int] = {}
    for position, title in enumerate(header):
        index.setdefault(title.lower(), position)
    missing = [column for column in REQUIRED_COLUMNS if column not in index]
    if missing:
        raise OrgFileError(
            N_("The header row lacks the column(s) {missing} (needed: {required}; optional: reviews)."),
            missing=", ".join(missing),
            required=", ".join(REQUIRED_COLUMNS),
        )

    def cell(cells: list[str], column: str) -> str:
        position = index.get(column)
        return cells[position] if position is not None and position < len(cells) else ""

    return [Line(number, *(cell(cells, column) for column in COLUMNS)) for number, cells in numbered[1:]]


# --- checking ----------------------------------------------------------------------------------


def parse_kind(text: str) -> UnitKind | None:
    return KIND_WORDS.get(fold(text).replace("_", " "))


def plan(lines: list[Line], existing: dict[str, Row]) -> tuple[list[Planned], list[Problem]]:
    """Check every row against the others and against the units already stored.

    Returns either the rows to write, parents before their children, or the problems (and
    no rows): one bad row stops the whole file.
    """
    problems: list[Problem] = []
    if not lines:
        return [], [Problem(None, N_("The file has no rows of units below its header row."))]

    first_row: dict[str, int] = {}
    parents: dict[str, str] = {}  # code → parent code, for the rows of the file
    kinds: dict[str, UnitKind] = {}  # code → kind, for the rows whose kind could be read
    firsts: list[Line] = []  # the first row of every code; later ones are duplicates
    for line in lines:
        problems.extend(_check_line(line, first_row))
        if line.code and line.code not in first_row:
            first_row[line.code] = line.row
            firsts.append(line)
            if line.parent_code:
                parents[line.code] = line.parent_code
            if (kind := parse_kind(line.kind)) is not None:
                kinds[line.code] = kind
    code_of_id = {unit.id: code for code, unit in existing.items()}
    # The tree as it would be: the file's parents, and the stored ones of the units not in it.
    after = {
        code: parent
        for code, unit in existing.items()
        if code not in first_row and (parent := code_of_id.get(unit.parent_id)) is not None
    } | parents
    moving = {line.code for line in firsts if _moves(line, existing, code_of_id)}
    in_cycle = _cycles(after, first_row, problems, moving)

    for line in firsts:
        if line.parent_code and line.code not in in_cycle:
            problems.extend(_check_parent(line, kinds, first_row, existing))
        problems.extend(_check_stored(line, kinds.get(line.code), existing, code_of_id))

    if problems:
        problems.sort(key=lambda p: p.row or 0)
        return [], problems
    planned = [
        Planned(
            line.row,
            line.code,
            line.name,
            kinds[line.code],
            line.parent_code or None,
            _reviews(line.reviews, kinds[line.code]),
            existing.get(line.code),
            _moves(line, existing, code_of_id),
        )
        for line in firsts
    ]
    # A parent is always of a higher level than its children, so level order is parent order.
    planned.sort(key=lambda p: (KIND_LEVEL[p.kind], p.row))
    return planned, []


def _check_parent(
    line: Line, kinds: dict[str, UnitKind], first_row: dict[str, int], existing: dict[str, Row]
) -> list[Problem]:
    """The parent exists (in the file or stored) and is of a higher level. A root need not be a
    province: a deployment may serve a single district or school."""
    kind, parent_code = kinds.get(line.code), line.parent_code
    if parent_code in first_row:
        parent_kind = kinds.get(parent_code)
    elif parent_code in existing:
        parent_kind = UnitKind(existing[parent_code].kind)
    else:
        return [Problem(line.row, N_("parent unit '{code}' not found"), {"code": parent_code})]
    if parent_code in existing and existing[parent_code].closed_on is not None:
        return [Problem(line.row, N_("parent unit '{code}' has been merged into another unit"), {"code": parent_code})]
    if kind and parent_kind and KIND_LEVEL[parent_kind] >= KIND_LEVEL[kind]:
        return [
            Problem(
                line.row,
                N_("{child} cannot be under {parent}"),
                {"child": KIND_AS_CHILD[kind], "parent": KIND_AS_PARENT[parent_kind]},
            )
        ]
    return []


def _check_stored(
    line: Line, kind: UnitKind | None, existing: dict[str, Row], code_of_id: dict[int, str]
) -> list[Problem]:
    """A code already stored keeps its kind; a unit merged into another stays where it was."""
    stored = existing.get(line.code)
    if stored is None or kind is None:
        return []
    if stored.kind != kind:
        old = KIND_AS_CHILD[UnitKind(stored.kind)]
        return [
            Problem(
                line.row,
                N_("code '{code}' is already stored as another kind of unit ({old})"),
                {"code": line.code, "old": old},
            )
        ]
    if stored.closed_on is not None and _moves(line, existing, code_of_id):
        return [
            Problem(
                line.row, N_("unit '{code}' has been merged into another unit and cannot be moved"), {"code": line.code}
            )
        ]
    return []


def _moves(line: Line, existing: dict[str, Row], code_of_id: dict[int, str]) -> bool:
    stored = existing.get(line.code)
    return stored is not None and code_of_id.get(stored.parent_id) != (line.parent_code or None)


def _check_line(line: Line, first_row: dict[str, int]) -> list[Problem]:
    found = []
    if not line.code:
        found.append(Problem(line.row, N_("the unit's code is missing")))
    elif len(line.code) > MAX_CODE:
        found.append(Problem(line.row, N_("the unit's code is longer than {n} characters"), {"n": MAX_CODE}))
    elif line.code in first_row:
        found.append(
            Problem(
                line.row, N_("code '{code}' repeats row {first}"), {"code": line.code, "first": first_row[line.code]}
            )
        )
    if not line.name:
        found.append(Problem(line.row, N_("the unit's name is missing")))
    elif len(line.name) > MAX_NAME:
        found.append(Problem(line.row, N_("the unit's name is longer than {n} characters"), {"n": MAX_NAME}))
    if not line.kind:
        found.append(Problem(line.row, N_("the kind of unit is missing (use: {kinds})"), {"kinds": KIND_HINT}))
    elif parse_kind(line.kind) is None:
        found.append(
            Problem(
                line.row,
                N_("kind of unit '{kind}' is not valid (use: {kinds})"),
                {"kind": line.kind, "kinds": KIND_HINT},
            )
        )
    if line.reviews and fold(line.reviews) not in TRUE_WORDS | FALSE_WORDS:
        found.append(
            Problem(
                line.row,
                N_("the reviews column's value '{value}' is not valid (use: yes / no)"),
                {"value": line.reviews},
            )
        )
    return found


def _reviews(text: str, kind: UnitKind) -> bool:
    return fold(text) in TRUE_WORDS if text else kind in REVIEWER_KINDS


def _cycles(
    parents: dict[str, str], first_row: dict[str, int], problems: list[Problem], moving: AbstractSet[str] = frozenset()
) -> set[str]:
    """Codes whose chain of parents loops back (`parents`: the tree as the file would leave it,
    stored units included); one problem per loop, on the row of its first unit in the file that
    `moving` to another parent closes it (else its first unit in the file)."""
    in_cycle: set[str] = set()
    settled: set[str] = set()  # chains already followed to their end
    for start in parents:
        path: list[str] = []
        on_path: set[str] = set()
        code: str | None = start
        while code is not None and code not in settled and code not in on_path:
            path.append(code)
            on_path.add(code)
            code = parents.get(code)
        if code is not None and code in on_path:
            loop = path[path.index(code) :]
            in_cycle.update(loop)
            blamed = [c for c in loop if c in moving] or [c for c in loop if c in first_row]
            first = min(blamed, key=first_row.__getitem__)
            if len(loop) == 1:
                problems.append(Problem(first_row[first], N_("a unit cannot be under itself")))
            elif any(c not in first_row for c in loop):  # a stored unit's subtree
                problems.append(
                    Problem(
                        first_row[first],
                        N_("'{code}' cannot move into '{parent}': that is a unit below '{code}' itself"),
                        {"code": first, "parent": parents[first]},
                    )
                )
            else:
                at = loop.index(first)
                names = " → ".join([*loop[at:], *loop[:at], first])
                problems.append(
                    Problem(first_row[first], N_("the parent units make a loop: {names}"), {"names": names})
                )
        settled.update(path)
    return in_cycle


# --- writing -----------------------------------------------------------------------------------


def import_org(db: Engine, path: Path, *, progress: bool = False) -> ImportResult:
    """Check the whole file, then write it in one transaction, or write nothing."""
    try:
        lines = read_rows(path)
    except OrgFileError as exc:
        return ImportResult(0, 0, [Problem(None, exc.msgid, exc.params)])

    created = updated = moved = 0
    now = utcnow()
    with unit_of_work(db) as uow:
        units = uow.units.codes()
        planned, problems = plan(lines, units)
        if problems:
            return ImportResult(0, 0, problems)

        def parent_of(item: Planned) -> Row | None:
            """As it is now: a move rewrote the paths of the rows read before it. Parents come
            first (level order), so by now every ancestor is where the file puts it."""
            if not item.parent_code:
                return None
            parent = units[item.parent_code]
            return uow.units.one(parent.id) if moved else parent

        code_of = {unit.id: code for code, unit in units.items()}
        for item in tqdm(planned, desc="Nhập đơn vị", unit=" đơn vị", file=sys.stderr, disable=not progress):
            if item.existing is None:
                units[item.code] = uow.units.add(
                    code=item.code,
                    name=item.name,
                    kind=item.kind,
                    parent=parent_of(item),
                    reviews=item.reviews,
                    now=now,
                )
                created += 1
                continue
            old = item.existing
            if item.moves:
                old_parent = code_of.get(old.parent_id) if old.parent_id is not None else None
                uow.units.move(uow.units.one(old.id), parent_of(item))
                detail = {"code": item.code, "old_parent": old_parent, "new_parent": item.parent_code}
                uow.org_changes.add(kind=OrgChangeKind.move, unit_id=old.id, detail=detail, by=None, now=now)
                moved += 1
            if (old.name, old.reviews) != (item.name, item.reviews):
                uow.units.update(old.id, name=item.name, reviews=item.reviews)
                updated += 1
            if old.name != item.name:
                detail = {"code": item.code, "old_name": old.name, "new_name": item.name}
                uow.org_changes.add(kind=OrgChangeKind.rename, unit_id=old.id, detail=detail, by=None, now=now)
    return ImportResult(created, updated, [], moved)
