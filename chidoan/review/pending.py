"""Who below a reviewing unit still owes what (`/chuanop`), grouped by obligation, with the
deadline in force: the plan of the plan year followed now, this year's dialogue, last month's
meeting reports, and the commitments whose follow-up is unanswered.

"Owes" is the reminders' rule (chidoan/reminders/obligations.py): the deadline in force
(`Calendar.due`, moved or not) and the start rule (`Calendar.owes`: only what falls due after
the unit's first secretary or deputy was bound). Unlike the reminder sweep (`open_obligations`),
which makes an obligation only when the reminder policy has a stage for it at that moment, this
lists everything owed, due soon or late, since staff want the whole list. The plan and the
dialogue come from the subtree's status (review/status.py); the meetings and the commitments are
one set query each over the subtree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Row, String, exists, func, select, type_coerce

from chidoan.programmes.loader import Programme, programme_for
from chidoan.reminders.obligations import Calendar
from chidoan.review.status import Status, in_chunk, no_jit, within
from chidoan.storage.models import (
    Commitment,
    CommitmentStatus,
    OrgUnit,
    Report,
    ReportKind,
    ReportStatus,
    Role,
    RoleAssignment,
    UnitKind,
    table,
)
from chidoan.storage.uow import UnitOfWork

UNIT = table(OrgUnit)
ROLE = table(RoleAssignment)
REP = table(Report)
COM = table(Commitment)

KINDS = ("plan", "dialogue", "meeting", "commitment")


@dataclass(frozen=True)
class Owed:
    unit_id: int
    code: str
    name: str
    due: date  # the first late day
    count: int = 1  # commitments: how many are unanswered


@dataclass
class Pending:
    kind: str  # one of KINDS
    period: str  # "2027" (plan year, dialogue year), "10/2026" (meeting month), "" (commitments)
    due: date | None  # the deadline of the group when it is one for all (the programme's)
    units: list[Owed] = field(default_factory=list)


def pending_of(
    uow: UnitOfWork, status: Status, root: Row, programme: Programme, *, today: date, cal: Calendar
) -> list[Pending]:
    """What the units of `root`'s subtree owe, by obligation, in one transaction (a district);
    `status` is the subtree's status for the plan year followed now (it gives the plan and the
    dialogues). A province's job reads the same in chunks: `from_status`, then `meetings_chunk`
    and `commitments_chunk` until they return None, then `finish`."""
    groups = from_status(status, programme, today=today, cal=cal)
    for group in groups:
        after: str | None = ""
        while after is not None and group.kind in CHUNKED:
            after = CHUNKED[group.kind](uow, root, group, cal, today, after=after)
    return finish(groups)


MEETING_CHUNK = 1000  # branches a transaction (a province has thousands)
COMMITMENT_CHUNK = 1000  # registering units a transaction


def from_status(status: Status, programme: Programme, *, today: date, cal: Calendar) -> list[Pending]:
    """The groups of a subtree's obligations: the plan and the dialogue filled from its status,
    the meetings and the commitments still empty (filled by their chunks)."""
    groups = [Pending("plan", str(status.year), status.due)]
    for unit in status.units:
        if unit.expected and not unit.submitted:
            groups[0].units.append(Owed(unit.unit_id, unit.code, unit.name, unit.due))

    year = today.year
    yearly = programme_for(cal.programmes, year, UnitKind.base_unit) or programme
    if yearly.expectations.dialogues_per_year > 0 and status.as_of.year == year:
        dialogue = Pending("dialogue", str(year), cal.default_due("dialogue", yearly, year))
        for unit in status.units:
            due = cal.due(unit.reviewer_id, "dialogue", yearly, year)
            if unit.dialogues_year == 0 and unit.closed_on is None and cal.owes(due, unit.start):
                dialogue.units.append(Owed(unit.unit_id, unit.code, unit.name, due))
        groups.append(dialogue)

    month_year, month = (year - 1, 12) if today.month == 1 else (year, today.month - 1)  # last month
    meetings_programme = programme_for(cal.programmes, month_year, UnitKind.base_unit) or programme
    if meetings_programme.expectations.meetings_per_year > 0:
        due = Calendar.meeting_due(meetings_programme, month_year, month)
        groups.append(Pending("meeting", f"{month:02d}/{month_year}", due))
    groups.append(Pending("commitment", "", None))
    return groups


def finish(groups: list[Pending]) -> list[Pending]:
    for group in groups:
        group.units.sort(key=lambda o: (o.due, o.name))
    return groups


def _last_path(uow: UnitOfWork, root: Row, kinds: list[str], after: str, limit: int) -> str | None:
    """The path of the `limit`-th unit of these kinds after `after`: a chunk's end (None: the rest)."""
    stmt = (
        select(UNIT.c.path)
        .where(UNIT.c.kind.in_(kinds), within(UNIT.c.path, root.path, uow.conn.dialect.name), UNIT.c.path > after)
        .order_by(UNIT.c.path)
        .offset(limit - 1)
        .limit(1)
    )
    return uow.conn.execute(stmt).scalar()


def meetings_chunk(
    uow: UnitOfWork, root: Row, group: Pending, cal: Calendar, today: date, *, after: str = "", limit=MEETING_CHUNK
) -> str | None:
    """Adds to `group` the branches (paths after `after`, `limit` of them) that owe last month's
    meeting report; returns the path to go on from (None: done)."""
    month, year = (int(part) for part in group.period.split("/"))
    no_jit(uow)
    last = _last_path(uow, root, [UnitKind.branch], after, limit)
    stmt = _meetings_query(root.path, uow.conn.dialect.name, year, month, after=after, last=last)
    for row in uow.conn.execute(stmt):
        if group.due is not None and cal.owes(group.due, _day(row.start, cal)):
            group.units.append(Owed(row.id, row.code, row.name, group.due))
    return last


def commitments_chunk(
    uow: UnitOfWork, root: Row, group: Pending, cal: Calendar, today: date, *, after: str = "", limit=COMMITMENT_CHUNK
) -> str | None:
    """Adds to `group` the units (paths after `after`, up to the `limit`-th base unit's) with
    commitments due whose follow-up is unanswered; returns the path to go on from (None: done)."""
    no_jit(uow)
    last = _last_path(uow, root, [UnitKind.base_unit], after, limit)
    for row in uow.conn.execute(_commitments_query(root.path, uow.conn.dialect.name, today, after=after, last=last)):
        group.units.append(Owed(row.id, row.code, row.name, row.due, int(row.open)))
    return last


CHUNKED = {"meeting": meetings_chunk, "commitment": commitments_chunk}


def _day(value, cal: Calendar) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(cal.tz).date()


def _meetings_query(path: str, dialect: str, year: int, month: int, *, after: str = "", last: str | None = None):
    """The open branches of the subtree with no meeting report (not withdrawn) held that month,
    each with its start (one GROUP BY over role_assignment)."""
    first = date(year, month, 1)
    next_month = date(year + month // 12, month % 12 + 1, 1)
    branch = UNIT.alias("branch")
    starts = (
        select(ROLE.c.unit_id, func.min(ROLE.c.granted_at).label("start"))
        .join(branch, branch.c.id == ROLE.c.unit_id)
        .where(
            branch.c.kind == UnitKind.branch,
            within(branch.c.path, path, dialect),
            in_chunk(branch.c.path, after, last),
            ROLE.c.role.in_([Role.secretary, Role.deputy]),
        )
        .group_by(ROLE.c.unit_id)
        .subquery("starts")
    )
    reported = exists().where(
        REP.c.unit_id == UNIT.c.id,
        REP.c.held_on >= first,
        REP.c.held_on < next_month,
        REP.c.kind == ReportKind.meeting,
        REP.c.status != ReportStatus.withdrawn,
    )
    return (
        select(UNIT.c.id, UNIT.c.code, UNIT.c.name, type_coerce(starts.c.start, String).label("start"))
        .select_from(UNIT.outerjoin(starts, starts.c.unit_id == UNIT.c.id))
        .where(
            UNIT.c.kind == UnitKind.branch,
            within(UNIT.c.path, path, dialect),
            in_chunk(UNIT.c.path, after, last),
            UNIT.c.closed_on.is_(None),
            UNIT.c.merged_into.is_(None),
            ~reported,
        )
    )


def _commitments_query(path: str, dialect: str, today: date, *, after: str = "", last: str | None = None):
    """Per unit of the subtree (or of a chunk of it): its commitments due by today whose
    follow-up is unanswered (of reports not withdrawn), how many and the earliest due day; as
    correlated subqueries, so that the units drive the query (unit_id's index) and not every
    open commitment of the database, chunk after chunk."""

    def owed(column):
        return (
            select(column)
            .select_from(COM.join(REP, REP.c.id == COM.c.report_id))
            .where(
                COM.c.unit_id == UNIT.c.id,
                COM.c.status == CommitmentStatus.open,
                COM.c.due_on.is_not(None),
                COM.c.due_on <= today,
                REP.c.status != ReportStatus.withdrawn,
            )
            .scalar_subquery()
        )

    counted = owed(func.count()).label("open")
    inner = (
        select(UNIT.c.id, UNIT.c.code, UNIT.c.name, counted, owed(func.min(COM.c.due_on)).label("due"))
        .where(within(UNIT.c.path, path, dialect), in_chunk(UNIT.c.path, after, last))
        .subquery("owing")
    )
    return select(inner).where(inner.c.open > 0)
