"""What the reviewing unit's documents say, read from the database in short transactions.

Every function here takes `read`: something that runs one function of a unit of work in one
short transaction (a job's `JobContext.read` on the service's database thread, or a plain
transaction in the CLI) and gives back its result. The units reviewed directly are read `UNITS`
at a time (never the subtrees of the reviewing units below), their plans' tasks 200
registrations at a time;
the document is then built from plain values and rendered by the caller off the database thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Row, not_, select

from chidoan.documents.review import CompiledDocument, DecisionDocument, Header, TaskLine, UnitLine
from chidoan.programmes.loader import Programme
from chidoan.reminders.obligations import Calendar, bound
from chidoan.review.status import listed, state_of, within
from chidoan.storage.models import (
    ItemRating,
    OrgUnit,
    Registration,
    RegistrationVersion,
    ReviewResult,
    Role,
    table,
)
from chidoan.storage.rows import among
from chidoan.storage.uow import UnitOfWork

T = TypeVar("T")
Read = Callable[[Callable[[UnitOfWork], Any]], Awaitable[Any]]

CHUNK = 200  # registrations whose newest version is read in one transaction

UNIT = table(OrgUnit)
REG = table(Registration)
REG_VER = table(RegistrationVersion)
RATING = table(ItemRating)

# What the documents say of a unit's registration (they are Vietnamese whatever the reader's
# language). The keys are the status vocabulary of the reviewing level (review/status.py).
STATUS_VI = {
    "not_required": "Không phải đăng ký (tham gia sau hạn)",
    "missing": "Chưa đăng ký",
    "draft": "Đang soạn, chưa gửi",
    "submitted_on_time": "Đúng hạn",
    "submitted_late": "Trễ hạn",
}
STATE_VI = {
    "returned": "trả lại để bổ sung",
    "accepted": "đã kiểm tra",
    "passed": "đánh giá: đạt",
    "not_passed": "đánh giá: không đạt",
}


@dataclass(frozen=True)
class Reviewed:
    """A unit the reviewing unit reviews directly, and where its plan of the year stands."""

    unit_id: int
    code: str
    name: str
    registration: (
        str  # not_required, missing, draft, submitted_on_time, submitted_late, returned, accepted, passed, not_passed
    )
    registration_id: int | None
    version: int
    first_submitted_at: datetime | None
    on_time: bool | None
    due: date

    @property
    def sent(self) -> bool:
        return self.first_submitted_at is not None

    def label(self) -> str:
        return label_of(self.registration, self.on_time)


def label_of(registration: str, on_time: bool | None) -> str:
    """ "Đúng hạn", "Trễ hạn; trả lại để bổ sung", "Chưa đăng ký"… (a status of review/status.py)."""
    if registration in STATUS_VI:
        return STATUS_VI[registration]
    timing = STATUS_VI["submitted_on_time" if on_time else "submitted_late"]
    return f"{timing}; {STATE_VI.get(registration, registration)}"


UNITS = 250  # units read in one transaction when listing the units a reviewing unit reviews directly


@dataclass(frozen=True)
class Scope:
    """What each chunk of the directly reviewed units needs (read once, in the first transaction)."""

    reviewer_id: int
    path: str
    below: list[str]  # the paths of the reviewing units nearest below: their subtrees are theirs
    cal: Calendar


def scope_of(uow: UnitOfWork, reviewer: Row, settings) -> Scope:
    cal = Calendar.load(uow, settings)
    dialect = uow.conn.dialect.name
    rows = uow.conn.execute(
        select(UNIT.c.id, UNIT.c.path)
        .where(within(UNIT.c.path, reviewer.path, dialect), UNIT.c.id != reviewer.id, UNIT.c.reviews.is_(True))
        .order_by(UNIT.c.path)
    )
    below = [r for r in rows if r.id in cal.reviewing]
    # only the nearest: a deeper one is inside one of theirs
    return Scope(reviewer.id, reviewer.path, [r.path for r in below if cal.reviewer_id(r) == reviewer.id], cal)


def reviewed_chunk(
    uow: UnitOfWork, scope: Scope, programme: Programme, year: int, today: date, after: str | None, limit: int
) -> tuple[list[Reviewed], str | None]:
    """The next `limit` units of the programme's registering kinds that the reviewing unit reviews
    directly, after path `after` (none of a reviewing unit's below it), with their registration
    of `year` as the reviewing level's status reads it (review/status.py's `state_of`); and the
    last path read (None when there are no more). One transaction."""
    dialect = uow.conn.dialect.name
    kinds = [str(k) for k in programme.registering_kinds]
    stmt = (
        select(UNIT.c.id, UNIT.c.code, UNIT.c.name, UNIT.c.kind, UNIT.c.path, UNIT.c.closed_on, UNIT.c.merged_into)
        .where(within(UNIT.c.path, scope.path, dialect), UNIT.c.kind.in_(kinds))
        .where(*(not_(within(UNIT.c.path, path, dialect)) for path in scope.below))
        .order_by(UNIT.c.path)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(UNIT.c.path > after)
    units = [u for u in uow.conn.execute(stmt)]
    if not units:
        return [], None
    ids = [u.id for u in units]
    regs = {
        r.unit_id: r
        for r in uow.conn.execute(
            select(REG).where(among(REG.c.unit_id, ids), REG.c.programme == programme.code, REG.c.year == year)
        )
    }
    starts = bound(uow, ids, scope.cal.tz)[1]
    due = scope.cal.due(scope.reviewer_id, "plan", programme, year)
    out = []
    for unit in units:
        if scope.cal.reviewer_id(unit) != scope.reviewer_id:
            continue
        if not listed(unit.closed_on, unit.merged_into, due):
            continue
        reg = regs.get(unit.id)
        state, _overdue = state_of(reg, due, starts.get(unit.id), today, scope.cal)
        out.append(
            Reviewed(
                unit_id=unit.id,
                code=unit.code,
                name=unit.name,
                registration=state,
                registration_id=reg.id if reg is not None else None,
                version=reg.version if reg is not None else 0,
                first_submitted_at=reg.first_submitted_at if reg is not None else None,
                on_time=reg.on_time if reg is not None else None,
                due=due,
            )
        )
    return out, (units[-1].path if len(units) == limit else None)


async def read_reviewed(
    read: Read, scope: Scope, programme: Programme, year: int, today: date, *, limit: int | None = None
) -> list[Reviewed]:
    """The units of the programme's registering kinds that the reviewing unit reviews directly
    (it is their nearest reviewing ancestor), in tree order, `UNITS` at a time: a province's
    document never reads its districts' subtrees, nor holds the database for long."""
    out: list[Reviewed] = []
    after: str | None = None
    while True:
        chunk, after = await read(
            partial(
                reviewed_chunk,
                scope=scope,
                programme=programme,
                year=year,
                today=today,
                after=after,
                limit=limit or UNITS,
            )
        )
        out += chunk
        if after is None:
            return out


def tasks_of(programme: Programme, data: dict) -> list[TaskLine]:
    """A version's registered tasks, area by area, in the order they were registered."""
    return [
        TaskLine(
            str(task.get("item", "")), str(task.get("what", "")), str(task.get("when", "")), str(task.get("who", ""))
        )
        for area in programme.areas
        for task in data.get(f"area{area.number}", []) or []
        if isinstance(task, dict)
    ]


def _versions(uow: UnitOfWork, keys: list[tuple[int, int]]) -> dict[int, dict]:
    ids = [registration_id for registration_id, _version in keys]
    wanted = set(keys)
    rows = uow.conn.execute(
        select(REG_VER.c.registration_id, REG_VER.c.version, REG_VER.c.data).where(
            among(REG_VER.c.registration_id, ids)
        )
    )
    return {r.registration_id: r.data for r in rows if (r.registration_id, r.version) in wanted}


async def read_tasks(read: Read, programme: Programme, units: list[Reviewed]) -> dict[int, list[TaskLine]]:
    """The newest version's tasks of each unit that sent a plan, by unit id, CHUNK at a time."""
    sent = [u for u in units if u.sent and u.registration_id is not None]
    out: dict[int, list[TaskLine]] = {}
    for start in range(0, len(sent), CHUNK):
        chunk = sent[start : start + CHUNK]
        keys = [(u.registration_id, u.version) for u in chunk if u.registration_id is not None]
        data = await read(partial(_versions, keys=keys))
        for unit in chunk:
            out[unit.unit_id] = tasks_of(programme, data.get(unit.registration_id, {}))
    return out


def _passed_tasks(uow: UnitOfWork, registration_ids: list[int]) -> dict[int, int]:
    """How many tasks of each registration were rated passed (the review's ratings)."""
    return {
        registration_id: sum(1 for r in ratings if r.result == ReviewResult.passed)
        for registration_id, ratings in uow.reviews.ratings_of(registration_ids).items()
    }


def header_of(uow: UnitOfWork, reviewer: Row, today: date) -> Header:
    from chidoan.handlers.registration import abbreviation, place_of  # the plan's own rules (handlers import us)

    parents = uow.units.ancestors(reviewer)
    above = parents[-1] if parents else None
    return Header(
        committee_line=(above.name if above else "").upper(),
        unit_line=f"BCH {reviewer.name.upper()}",
        unit_name=reviewer.name,
        unit_abbr=abbreviation(reviewer.name),
        place=place_of(reviewer.name),
        date=today,
        recipients=[f"BTV {above.name}"] if above else [],
    )


def level_above(uow: UnitOfWork, reviewer: Row) -> Row | None:
    """Where the compiled report goes: the nearest reviewing ancestor of the reviewing unit."""
    return uow.units.reviewer(reviewer)


def default_proposals(reviewer_name: str) -> str:
    return (
        f"Ban Thường vụ {reviewer_name} tiếp tục theo dõi, hướng dẫn các Đoàn cơ sở chưa đăng ký hoàn "
        "thành việc đăng ký; phân công cán bộ phụ trách theo dõi, hỗ trợ các Đoàn cơ sở triển khai "
        "thực hiện các phần việc đã đăng ký. Đề nghị Ban Thường vụ Đoàn cấp trên quan tâm tập huấn, "
        "chia sẻ kinh nghiệm và các mô hình hay trong xây dựng Đoàn cơ sở “3 chủ động”."
    )


def local_day(moment: datetime | None, tz: tzinfo) -> date | None:
    return moment.astimezone(tz).date() if moment is not None else None


async def compiled_document(
    read: Read, reviewer_id: int, programme: Programme, year: int, today: date, settings
) -> CompiledDocument:
    """The compiled registration report of `reviewer_id` for plan year `year`."""

    def head(uow: UnitOfWork) -> tuple[Header, Scope]:
        reviewer = uow.units.one(reviewer_id)
        return header_of(uow, reviewer, today), scope_of(uow, reviewer, settings)

    header, scope = await read(head)
    units = await read_reviewed(read, scope, programme, year, today)
    tasks = await read_tasks(read, programme, units)
    lines = [
        UnitLine(u.name, u.label(), local_day(u.first_submitted_at, settings.tz), tasks.get(u.unit_id, []))
        for u in units
    ]
    counted = [u for u in units if u.registration != "not_required"]
    on_time = sum(1 for u in counted if u.sent and u.on_time)
    late = sum(1 for u in counted if u.sent and not u.on_time)
    areas = [
        (
            area.number,
            area.short,
            sum(1 for line in lines for t in line.tasks if t.item.split(".")[0] == str(area.number)),
        )
        for area in programme.areas
    ]
    due = units[0].due if units else programme.registration_due(year)
    return CompiledDocument(
        header=header,
        year=year,
        title=_result_title(programme, year),
        programme_short=programme.short_name,
        basis=programme.source,
        due=due,
        expected=len(counted),
        on_time=on_time,
        late=late,
        units=lines,
        areas=areas,
        proposals=default_proposals(header.unit_name),
    )


def _result_title(programme: Programme, year: int) -> str:
    """ "Kết quả đăng ký xây dựng Đoàn cơ sở “3 chủ động” năm 2027", from the plan's title."""
    title = programme.document.title_for(year)
    return f"Kết quả {title[:1].lower()}{title[1:]}"


async def decision_document(
    read: Read, reviewer_id: int, programme: Programme, year: int, today: date, settings
) -> DecisionDocument:
    """The recognition decision of `reviewer_id` for plan year `year`: the units it reviews
    directly whose registration's result is passed, each with its passed tasks."""

    def head(uow: UnitOfWork) -> tuple[Header, Scope]:
        reviewer = uow.units.one(reviewer_id)
        return header_of(uow, reviewer, today), scope_of(uow, reviewer, settings)

    header, scope = await read(head)
    passed = [u for u in await read_reviewed(read, scope, programme, year, today) if u.registration == "passed"]
    tasks = await read_tasks(read, programme, passed)
    ratings: dict[int, int] = {}
    ids = [u.registration_id for u in passed if u.registration_id is not None]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        ratings |= await read(partial(_passed_tasks, registration_ids=chunk))
    lines = [
        UnitLine(
            u.name,
            u.label(),
            local_day(u.first_submitted_at, settings.tz),
            tasks.get(u.unit_id, []),
            passed_tasks=ratings.get(u.registration_id or 0, 0),
        )
        for u in passed
    ]
    title = programme.document.title_for(year)
    recognised = title.split("xây dựng ", 1)[1] if "xây dựng " in title else title
    return DecisionDocument(
        header=header, year=year, title=recognised[:1].upper() + recognised[1:], basis=programme.source, units=lines
    )


def staff_units(uow: UnitOfWork, account_id: int) -> list[Row]:
    """The reviewing units this account is staff of (held directly), in tree order."""
    return sorted(
        (r for r in uow.roles.active_of(account_id) if r.role == Role.district_staff),
        key=lambda r: r.path,
    )
