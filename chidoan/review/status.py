"""Where each unit below a reviewing unit stands for one programme year: its plan's state, its
meetings and dialogues, its open commitments; with totals and rates on DHIS2's convention.

One query reads a whole subtree, whatever its size (a district's 200 units or a province's
20,000), never a query per unit: the registering units of the subtree (one range of an index on
their path), each with its registration of the year; its start and whether a secretary is bound
(one GROUP BY over role_assignment); its reports of the year counted over its own subtree, so a
branch's meeting counts for its base unit, and its open commitments (each a correlated subquery
that reads one range of an index per unit). Indexes for it: migration 0016.

The rules are the reminders' (chidoan/reminders/obligations.py), read for a whole subtree:

- the plan's deadline in force is the programme's, or the one the unit's reviewing unit moved it
  to (`Calendar.plan_due`);
- a unit that has no registration when the deadline has passed owes it only if it fell due after
  the unit's start (`Calendar.owes`; the start is the day its first secretary or deputy was
  bound, `Calendar.start_of`): otherwise it is "not_required", not missing;
- a unit closed by a merger is listed for a plan year only if it was still open on that year's
  deadline (closed_on > due), so earlier years read as they did; a unit merged into another
  without a closing day is not listed.

Meetings and dialogues are those of the current calendar year (`today`) when the plan year is
this year or a later one (the plan registered now for next year is followed beside this year's
activity), and of the plan year itself for an earlier year. Expected meetings are the
programme's `meetings_per_year` spread over the months whose report is due by then.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import ColumnElement, Row, String, and_, case, func, literal, or_, select, text, true, type_coerce
from sqlalchemy.sql.elements import Grouping

from chidoan.programmes.loader import Programme
from chidoan.reminders.obligations import MAX_MOVE, Calendar
from chidoan.storage.models import (
    OPEN_COMMITMENTS,
    Commitment,
    CompiledReport,
    OrgUnit,
    Registration,
    RegistrationStatus,
    Report,
    ReportKind,
    ReportStatus,
    ReviewResult,
    Role,
    RoleAssignment,
    table,
)
from chidoan.storage.rows import among
from chidoan.storage.uow import UnitOfWork

UNIT = table(OrgUnit)
ROLE = table(RoleAssignment)
REG = table(Registration)
REP = table(Report)
COM = table(Commitment)
COMPILED = table(CompiledReport)

REGISTRATION_STATES = (
    "not_required",
    "missing",
    "draft",
    "submitted_on_time",
    "submitted_late",
    "returned",
    "accepted",
    "passed",
    "not_passed",
)
SUBMITTED_STATES = frozenset(REGISTRATION_STATES[3:])  # a version has been sent
NOT_SUBMITTED = frozenset({"missing", "draft"})


@dataclass(frozen=True, slots=True)
class UnitStatus:
    unit_id: int
    code: str
    name: str
    kind: str
    path: str
    parent_id: int | None
    reviewer_id: int | None  # the unit's nearest reviewing ancestor (its "district")
    registration: str  # one of REGISTRATION_STATES
    registration_id: int | None
    version: int
    first_submitted_at: datetime | None
    due: date  # the plan's deadline in force for this unit (the first late day)
    meetings_month: int
    meetings_year: int
    meetings_expected: int  # expected so far this year, from the programme's expectations
    dialogues_year: int
    open_commitments: int
    has_secretary: bool  # a secretary is bound now (not revoked)
    start: date | None = None  # the day its first secretary or deputy was bound (Calendar.start_of)
    on_time: bool | None = None  # of the first submission
    overdue: bool = False  # owed, not submitted, and the deadline has passed
    closed_on: date | None = None

    @property
    def submitted(self) -> bool:
        return self.registration in SUBMITTED_STATES

    @property
    def expected(self) -> bool:
        return self.registration != "not_required"

    @property
    def late(self) -> bool:
        """Sent late, or not sent and overdue: what `/trangthai tre` lists."""
        return self.registration == "submitted_late" or self.overdue


@dataclass(frozen=True, slots=True)
class Totals:
    """DHIS2's convention: reporting rate = submitted / expected; on-time rate = on time /
    expected. `expected` leaves out the units the plan was not required of."""

    units: int  # listed
    expected: int
    submitted: int
    on_time: int
    late: int  # submitted late
    missing: int  # expected and not submitted (drafts included)
    draft: int
    overdue: int  # missing with the deadline passed
    returned: int
    accepted: int
    passed: int
    not_passed: int
    not_required: int
    no_secretary: int
    meetings_month: int
    meetings_year: int
    meetings_expected: int  # summed over the units
    meetings_credited: int  # each unit's meetings up to what is expected of it
    dialogue_units: int  # units with at least one dialogue this year
    open_commitments: int
    reporting_rate: float
    on_time_rate: float
    meeting_rate: float  # meetings_credited / meetings_expected
    dialogue_rate: float  # dialogue_units / units (seed 003: "100% of communes hold one a year")


@dataclass(frozen=True)
class Status:
    root_id: int
    programme: str
    year: int  # the plan year
    units: list[UnitStatus]  # the registering units in the root's subtree, by path
    totals: Totals
    as_of: date  # the day meetings and dialogues are counted up to
    due: date  # the programme's own plan deadline for the year (units may have a moved one)


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def totals_of(units: Sequence[UnitStatus]) -> Totals:
    counts = dict.fromkeys(REGISTRATION_STATES, 0)
    expected = on_time = overdue = no_secretary = 0
    meetings_month = meetings_year = meetings_expected = credited = dialogue_units = commitments = 0
    for u in units:
        counts[u.registration] += 1
        if u.registration != "not_required":
            expected += 1
        if u.on_time and u.registration in SUBMITTED_STATES:
            on_time += 1
        overdue += u.overdue
        no_secretary += not u.has_secretary
        meetings_month += u.meetings_month
        meetings_year += u.meetings_year
        meetings_expected += u.meetings_expected
        credited += min(u.meetings_year, u.meetings_expected)
        dialogue_units += u.dialogues_year > 0
        commitments += u.open_commitments
    submitted = sum(counts[s] for s in SUBMITTED_STATES)
    return Totals(
        units=len(units),
        expected=expected,
        submitted=submitted,
        on_time=on_time,
        late=submitted - on_time,
        missing=expected - submitted,
        draft=counts["draft"],
        overdue=overdue,
        returned=counts["returned"],
        accepted=counts["accepted"],
        passed=counts["passed"],
        not_passed=counts["not_passed"],
        not_required=counts["not_required"],
        no_secretary=no_secretary,
        meetings_month=meetings_month,
        meetings_year=meetings_year,
        meetings_expected=meetings_expected,
        meetings_credited=credited,
        dialogue_units=dialogue_units,
        open_commitments=commitments,
        reporting_rate=_rate(submitted, expected),
        on_time_rate=_rate(on_time, expected),
        meeting_rate=_rate(credited, meetings_expected),
        dialogue_rate=_rate(dialogue_units, len(units)),
    )


def below(column, lower, upper, dialect: str) -> ColumnElement[bool]:
    """`lower <= column < upper`, compared byte by byte: on PostgreSQL with the pattern
    operators, which its `varchar_pattern_ops` indexes serve whatever the database's collation
    (a collation that ignores "/" would mix subtrees); on SQLite plainly (its indexes compare
    bytes; its LIKE is case-insensitive and uses no index)."""
    if dialect == "postgresql":  # the bounds parenthesised: these operators bind tighter than ||
        return and_(
            column.op("~>=~", is_comparison=True)(Grouping(literal(lower) if isinstance(lower, str) else lower)),
            column.op("~<~", is_comparison=True)(Grouping(literal(upper) if isinstance(upper, str) else upper)),
        )
    return and_(column >= lower, column < upper)


def within(column, path: str, dialect: str) -> ColumnElement[bool]:
    """`column` (a materialised path) is `path` or below it: the paths from "/1/7/" up to, not
    including, "/1/70" ("0" follows "/"), one range of an index."""
    return below(column, path, path[:-1] + "0", dialect)


def _within_row(column, path, dialect: str) -> ColumnElement[bool]:
    """`column` is below the path column `path` of the outer row (a correlated subtree)."""
    upper = func.substr(path, 1, func.length(path) - 1).concat("0")
    return below(column, path, upper, dialect)


def no_jit(uow: UnitOfWork) -> None:
    """PostgreSQL: no JIT compiling in this transaction. Correlated subqueries make the planner's
    estimate large enough to compile the query: 0.4 s of compiling for tens of milliseconds of work."""
    if uow.conn.dialect.name == "postgresql":
        uow.conn.execute(text("SET LOCAL jit = off"))


def activity_as_of(year: int, today: date) -> date:
    """The day meetings and dialogues are counted up to for plan year `year`."""
    return today if year >= today.year else date(year, 12, 31)


def meetings_expected(programme: Programme, as_of: date, today: date) -> int:
    """Meetings expected of a unit by `as_of` in its year: the months whose report is due by then
    (all twelve for a past year), at the programme's rate."""
    per_year = programme.expectations.meetings_per_year
    if as_of.year < today.year:
        return per_year
    months = sum(1 for m in range(1, 13) if Calendar.meeting_due(programme, as_of.year, m) <= as_of)
    return per_year * months // 12


# The three counts of a unit's reports come back from one correlated subquery as one number:
# meetings of the year + meetings of the month × MONTH + dialogues × DIALOGUE (each far below 10^6).
MONTH = 1_000_000
DIALOGUE = 1_000_000_000_000


def status_of(
    uow: UnitOfWork,
    root: Row,
    programme: Programme,
    year: int,
    *,
    today: date,
    settings,
    cal: Calendar | None = None,
) -> Status:
    """The status of `root`'s subtree for `programme`'s plan year `year`, as of `today`, in one
    query: for a district. A province's thousands of units are read in chunks instead, each its
    own short transaction (`status_chunk`, then `assemble`), so nobody's reply waits behind it."""
    cal = cal or Calendar.load(uow, settings)
    units, _after = status_chunk(uow, root, programme, year, today=today, cal=cal)
    return assemble(root, programme, year, units, today=today)


CHUNK = 400  # registering units a transaction when a subtree is read in chunks (~10-20 ms each)


def count_units(uow: UnitOfWork, root: Row, programme: Programme) -> int:
    """How many registering units the subtree holds (closed ones too): one range of an index."""
    kinds = [str(k) for k in programme.registering_kinds]
    stmt = select(func.count()).where(UNIT.c.kind.in_(kinds), within(UNIT.c.path, root.path, uow.conn.dialect.name))
    return int(uow.conn.execute(stmt).scalar_one())


def assemble(root: Row, programme: Programme, year: int, units: list[UnitStatus], *, today: date) -> Status:
    """The Status of units read by `status_chunk` (in path order), with its totals."""
    as_of = activity_as_of(year, today)
    return Status(root.id, programme.code, year, units, totals_of(units), as_of, programme.registration_due(year))


def status_chunk(
    uow: UnitOfWork,
    root: Row,
    programme: Programme,
    year: int,
    *,
    today: date,
    cal: Calendar,
    after: str = "",
    limit: int | None = None,
) -> tuple[list[UnitStatus], str | None]:
    """The statuses of the subtree's registering units whose path comes after `after`, at most
    `limit` of them (all without one), and the path to go on from (None: that was the last)."""
    dialect = uow.conn.dialect.name
    kinds = [str(k) for k in programme.registering_kinds]
    as_of = activity_as_of(year, today)
    expected_meetings = meetings_expected(programme, as_of, today)
    default_due = programme.registration_due(year)
    last: str | None = None
    if limit is not None:  # the chunk's last path, so that every part of the query reads only the chunk
        stmt = (
            select(UNIT.c.path)
            .where(UNIT.c.kind.in_(kinds), within(UNIT.c.path, root.path, dialect), UNIT.c.path > after)
            .order_by(UNIT.c.path)
            .offset(limit - 1)
            .limit(1)
        )
        last = uow.conn.execute(stmt).scalar()
    stmt = _query(root.path, dialect, kinds, programme.code, year, default_due, as_of, after=after, last=last)
    no_jit(uow)

    tz = cal.tz
    units: list[UnitStatus] = []
    reviewers: dict[str, int | None] = {}  # by the parent's path
    dues: dict[int | None, date] = {}  # by reviewing unit
    for row in uow.conn.execute(stmt):
        # Unpacked at once: a province is thousands of rows, and attribute access on each costs.
        (uid, code, name, kind, path, parent_id, closed_on, merged_into) = row[:8]
        (reg_id, reg_status, version, submitted_at, on_time, result, started, secretaries, packed, open_) = row[8:]
        above = path[: path.rstrip("/").rfind("/") + 1]
        if above not in reviewers:
            reviewers[above] = cal.reviewer_id(row)
        reviewer = reviewers[above]
        if reviewer not in dues:
            dues[reviewer] = cal.due(reviewer, "plan", programme, year)
        due = dues[reviewer]
        if not listed(closed_on, merged_into, due):
            continue
        start = _utc(started).astimezone(tz).date() if started is not None else None  # type: ignore[union-attr]
        state, overdue = registration_state(reg_id, reg_status, version, on_time, result, due, start, today, cal)
        packed = int(packed or 0)
        units.append(
            UnitStatus(
                uid,
                code,
                name,
                kind,
                path,
                parent_id,
                reviewer,
                state,
                reg_id,
                version or 0,
                _utc(submitted_at),
                due,
                packed % DIALOGUE // MONTH,
                packed % MONTH,
                expected_meetings,
                packed // DIALOGUE,
                open_,
                bool(secretaries),
                start,
                None if on_time is None else bool(on_time),
                overdue,
                closed_on,
            )
        )
    return units, last


def _utc(value: datetime | str | None) -> datetime | None:
    """A timestamp read raw: SQLite gives the stored text (parsed here, much faster than
    SQLAlchemy's own parser), PostgreSQL an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def listed(closed_on: date | None, merged_into: int | None, due: date) -> bool:
    """Whether a unit is listed for a plan year whose registration was due before `due`: not if
    it was closed (merged) by then, so earlier years read as they did."""
    if closed_on is not None:
        return closed_on > due
    return merged_into is None


def state_of(reg: Row | None, due: date, start: date | None, today: date, cal: Calendar) -> tuple[str, bool]:
    """`registration_state` of a registration row (None: the unit has none)."""
    if reg is None:
        return registration_state(None, None, 0, None, None, due, start, today, cal)
    return registration_state(reg.id, reg.status, reg.version, reg.on_time, reg.result, due, start, today, cal)


def registration_state(
    reg_id: int | None,
    status: str | None,
    version: int | None,
    on_time: bool | None,
    result: str | None,
    due: date,
    start: date | None,
    today: date,
    cal: Calendar,
) -> tuple[str, bool]:
    """The registration column of one unit, and whether it is overdue."""
    if not version:
        state = "draft" if reg_id is not None else "missing"
        if due > today:
            return state, False
        owed = cal.owes(due, start)
        if not owed and state == "missing":
            return "not_required", False
        return state, owed
    if status == RegistrationStatus.returned:
        return "returned", False
    if status == RegistrationStatus.reviewed:
        if result == ReviewResult.passed:
            return "passed", False
        if result == ReviewResult.not_passed:
            return "not_passed", False
        return "accepted", False
    return ("submitted_on_time" if on_time else "submitted_late"), False


def _query(
    path: str,
    dialect: str,
    kinds: list[str],
    programme: str,
    year: int,
    default_due: date,
    as_of: date,
    *,
    after: str = "",
    last: str | None = None,
):
    """The registering units of the subtree, by path, each with its registration of the year,
    its start and whether a secretary is bound (one GROUP BY over role_assignment), its reports
    of the year counted over its own subtree (its branches') and its open commitments (two
    correlated subqueries, each a range of an index per unit)."""
    bound_units = UNIT.alias("bound_unit")
    starts = (
        select(
            ROLE.c.unit_id,
            func.min(ROLE.c.granted_at).label("start"),
            func.sum(case((and_(ROLE.c.role == Role.secretary, ROLE.c.revoked_at.is_(None)), 1), else_=0)).label(
                "secretaries"
            ),
        )
        .join(bound_units, bound_units.c.id == ROLE.c.unit_id)
        .where(
            bound_units.c.kind.in_(kinds),
            within(bound_units.c.path, path, dialect),
            in_chunk(bound_units.c.path, after, last),
            ROLE.c.role.in_([Role.secretary, Role.deputy]),
        )
        .group_by(ROLE.c.unit_id)
        .subquery("starts")
    )
    below_unit = UNIT.alias("below_unit")
    month_start = as_of.replace(day=1)
    meeting = REP.c.kind == ReportKind.meeting
    weight = case(
        (and_(meeting, REP.c.held_on >= month_start), MONTH + 1),
        (meeting, 1),
        (REP.c.kind == ReportKind.dialogue, DIALOGUE),
        else_=0,
    )
    reports = (
        select(func.sum(weight))
        .select_from(below_unit.join(REP, REP.c.unit_id == below_unit.c.id))
        .where(
            _within_row(below_unit.c.path, UNIT.c.path, dialect),
            REP.c.held_on >= date(as_of.year, 1, 1),
            REP.c.held_on <= as_of,
            REP.c.status != ReportStatus.withdrawn,
        )
        .scalar_subquery()
    )
    commitments = (
        select(func.count())
        .select_from(COM.join(REP, REP.c.id == COM.c.report_id))
        .where(
            COM.c.unit_id == UNIT.c.id,
            COM.c.status.in_(sorted(OPEN_COMMITMENTS)),
            REP.c.status != ReportStatus.withdrawn,
        )
        .scalar_subquery()
    )
    registration = and_(REG.c.unit_id == UNIT.c.id, REG.c.programme == programme, REG.c.year == year)
    listed = or_(
        and_(UNIT.c.closed_on.is_(None), UNIT.c.merged_into.is_(None)),
        UNIT.c.closed_on > default_due - MAX_MOVE,  # the exact rule, with the deadline in force, in status_of
    )
    return (
        select(
            UNIT.c.id,
            UNIT.c.code,
            UNIT.c.name,
            UNIT.c.kind,
            UNIT.c.path,
            UNIT.c.parent_id,
            UNIT.c.closed_on,
            UNIT.c.merged_into,
            REG.c.id.label("registration_id"),
            REG.c.status,
            REG.c.version,
            type_coerce(REG.c.first_submitted_at, String).label("first_submitted_at"),
            REG.c.on_time,
            REG.c.result,
            type_coerce(starts.c.start, String).label("start"),
            starts.c.secretaries,
            reports.label("reports"),
            commitments.label("commitments"),
        )
        .select_from(UNIT.outerjoin(REG, registration).outerjoin(starts, starts.c.unit_id == UNIT.c.id))
        .where(UNIT.c.kind.in_(kinds), within(UNIT.c.path, path, dialect), in_chunk(UNIT.c.path, after, last), listed)
        .order_by(UNIT.c.path)
    )


def in_chunk(column, after: str, last: str | None) -> ColumnElement[bool]:
    """Paths after `after` up to `last` (a chunk; no bound when empty or None), compared in the
    column's own order, the order of ORDER BY path: the chunks follow one another."""
    bounds = [column > after] if after else []
    if last is not None:
        bounds.append(column <= last)
    return and_(true(), *bounds)


# ---- the level above: rolled up per reviewing unit ---------------------------------------------


@dataclass(frozen=True)
class Group:
    """The units one reviewing unit reviews directly, inside a status (a province's districts,
    and the province's own base units)."""

    reviewer_id: int | None
    units: list[UnitStatus]
    totals: Totals


def groups_of(status: Status) -> list[Group]:
    """The status's units by their reviewing unit, in the order of the units (by path): the
    root's own units first when it reviews some directly."""
    by: dict[int | None, list[UnitStatus]] = {}
    for unit in status.units:
        by.setdefault(unit.reviewer_id, []).append(unit)
    order = sorted(by, key=lambda r: (r != status.root_id, by[r][0].path))
    return [Group(r, by[r], totals_of(by[r])) for r in order]


def compiled_reports(uow: UnitOfWork, unit_ids: Iterable[int], programme: str, year: int) -> dict[int, Row]:
    """Each reviewing unit's first compiled report of the year sent upward (25/10), if any."""
    ids = list(unit_ids)
    if not ids:
        return {}
    stmt = (
        select(COMPILED.c.unit_id, COMPILED.c.sent_at, COMPILED.c.on_time)
        .where(among(COMPILED.c.unit_id, ids), COMPILED.c.programme == programme, COMPILED.c.year == year)
        .order_by(COMPILED.c.sent_at)
    )
    first: dict[int, Row] = {}
    for row in uow.conn.execute(stmt):
        first.setdefault(row.unit_id, row)
    return first
