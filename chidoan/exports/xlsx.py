"""A subtree's year as a spreadsheet (.xlsx): one sheet per kind of record.

Sheets: units and where each stands, registrations (plans), the registered tasks with their
year-end rating, branch meetings, dialogues, commitments, and review actions; for the units of
one subtree and one year (the plan year; meetings and dialogues held in that calendar year).

A province is 20,000 units, so the subtree is read in chunks of `CHUNK` units (in tree order,
by path), each chunk in one short transaction through `read`, and its rows appended to the
workbook through `render` (a worker thread) while the next chunk waits: the database thread is
never held for long, nor is the event loop. openpyxl's write-only mode keeps memory flat. The
texts are Vietnamese, as the documents are.

Cells are values, never formulas: a text that begins with "=" (a task typed so) is written as
text, and characters a spreadsheet cannot hold are dropped.
"""

from __future__ import annotations

import asyncio
import io
import json
import multiprocessing
from collections import defaultdict
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from sqlalchemy import Text, and_, func, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import aliased

from chidoan.documents.gather import label_of
from chidoan.programmes.loader import programme_for
from chidoan.reminders.obligations import Calendar, bound
from chidoan.review.status import listed, state_of, within
from chidoan.storage.models import (
    OPEN_COMMITMENTS,
    Account,
    Commitment,
    ItemRating,
    OrgUnit,
    Registration,
    RegistrationVersion,
    Report,
    ReportKind,
    ReportStatus,
    ReportVersion,
    ReviewAction,
    UnitKind,
    table,
)
from chidoan.storage.rows import among
from chidoan.storage.uow import UnitOfWork

CHUNK = 150  # units read in one transaction

UNIT = table(OrgUnit)
PARENT = aliased(UNIT)
REG = table(Registration)
REG_VER = table(RegistrationVersion)
RATING = table(ItemRating)
REP = table(Report)
REP_VER = table(ReportVersion)
COM = table(Commitment)
ACTION = table(ReviewAction)
ACCOUNT = table(Account)

KIND_VI = {
    UnitKind.province: "Đoàn cấp tỉnh",
    UnitKind.district: "Đoàn cấp trên trực tiếp cơ sở",
    UnitKind.base_unit: "Đoàn cơ sở",
    UnitKind.branch_group: "Liên chi đoàn",
    UnitKind.branch: "Chi đoàn",
}
REG_STATUS_VI = {
    "draft": "Bản nháp",
    "submitted": "Đã gửi",
    "returned": "Trả lại để bổ sung",
    "reviewed": "Đã kiểm tra",
}
RESULT_VI = {"passed": "Đạt", "not_passed": "Không đạt"}
REPORT_STATUS_VI = {"submitted": "Đã gửi", "withdrawn": "Đã rút lại", "reviewed": "Đã kiểm tra"}
LEVEL_VI = {"commune": "Cấp xã", "district": "Cấp huyện (trước 01/7/2025)", "province": "Cấp tỉnh"}
MEETING_KIND_VI = {"regular": "Định kỳ", "themed": "Chuyên đề", "extraordinary": "Bất thường"}
COMMITMENT_VI = {
    "open": "Chưa theo dõi",
    "done": "Đã thực hiện",
    "in_progress": "Đang thực hiện",
    "not_done": "Chưa thực hiện",
}
YES_NO = {True: "Có", False: "Không", None: ""}

# (key, sheet title, column headers)
SHEETS: list[tuple[str, str, list[str]]] = [
    (
        "units",
        "Đơn vị",
        [
            "Mã",
            "Tên đơn vị",
            "Cấp",
            "Mã đơn vị cấp trên",
            "Mã Đoàn cấp trên trực tiếp",
            "Kế hoạch năm",
            "Ngày gửi kế hoạch",
            "Phiên bản",
            "Sinh hoạt chi đoàn trong năm",
            "Đối thoại trong năm",
            "Cam kết chưa hoàn thành",
        ],
    ),
    (
        "registrations",
        "Kế hoạch",
        [
            "Mã",
            "Đơn vị",
            "Chương trình",
            "Năm kế hoạch",
            "Trạng thái",
            "Phiên bản",
            "Gửi lần đầu",
            "Đúng hạn",
            "Hạn chót (trước ngày)",
            "Kết quả đánh giá",
        ],
    ),
    (
        "tasks",
        "Phần việc",
        [
            "Mã",
            "Đơn vị",
            "Phiên bản",
            "STT",
            "Nội dung",
            "Phần việc",
            "Thời gian",
            "Phụ trách",
            "Kết quả dự kiến",
            "Đánh giá",
            "Ghi chú đánh giá",
        ],
    ),
    (
        "meetings",
        "Sinh hoạt",
        [
            "Mã",
            "Đơn vị",
            "Ngày",
            "Trạng thái",
            "Phiên bản",
            "Loại",
            "Chủ đề",
            "Số đoàn viên",
            "Có mặt",
            "Nội dung",
            "Ý kiến của đoàn viên",
            "Nội dung thống nhất",
            "Tệp đính kèm",
        ],
    ),
    (
        "dialogues",
        "Đối thoại",
        [
            "Mã",
            "Đơn vị",
            "Ngày",
            "Trạng thái",
            "Phiên bản",
            "Cấp",
            "Lãnh đạo tham dự",
            "Số ĐVTN tham dự",
            "Số ý kiến, kiến nghị",
            "Số nội dung cam kết",
        ],
    ),
    (
        "commitments",
        "Cam kết",
        ["Mã", "Đơn vị", "Ngày đối thoại", "Nội dung cam kết", "Người cam kết", "Thời hạn", "Tình trạng", "Ghi chú"],
    ),
    (
        "reviews",
        "Kiểm tra, đánh giá",
        ["Mã", "Đơn vị", "Thời điểm", "Người thực hiện", "Việc", "Chi tiết", "Ghi chú"],
    ),
]
SHEET_KEYS = [key for key, _title, _headers in SHEETS]


@dataclass
class Chunk:
    """The rows of every sheet for one chunk of units, as plain values."""

    rows: dict[str, list[list[Any]]] = field(default_factory=lambda: {key: [] for key in SHEET_KEYS})
    units: int = 0
    last_path: str | None = None


@dataclass
class Scope:
    """What every chunk needs: the root, the year, the calendar and the reviewing units' codes."""

    root_path: str
    year: int
    cal: Calendar
    reviewer_codes: dict[int, str]
    tz: Any
    today: date


def _local(moment: datetime | None, tz) -> datetime | None:
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0) if moment is not None else None


def scope_of(uow: UnitOfWork, root_id: int, year: int, settings, today: date) -> tuple[Scope, int]:
    """The scope of an export and how many units it covers (one short transaction)."""
    root = uow.units.one(root_id)
    cal = Calendar.load(uow, settings)
    codes = {
        r.id: r.code
        for r in uow.conn.execute(select(UNIT.c.id, UNIT.c.code).where(UNIT.c.reviews.is_(True)))
        if r.id in cal.reviewing
    }
    dialect = uow.conn.dialect.name
    count = uow.conn.execute(
        select(func.count()).select_from(UNIT).where(within(UNIT.c.path, root.path, dialect))
    ).scalar_one()
    return Scope(root.path, year, cal, codes, settings.tz, today), count


def _year_span(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


@dataclass
class Fetched:
    """What one chunk's transaction read: rows only (turned into sheet rows off the database thread)."""

    units: list
    regs: list = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    ratings: dict = field(default_factory=dict)
    reports: list = field(default_factory=list)
    report_data: dict = field(default_factory=dict)
    commitments: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    starts: dict = field(default_factory=dict)  # unit id: the day its first secretary or deputy was bound

    @property
    def last_path(self) -> str | None:
        return self.units[-1].path if self.units else None


def _json(text: str | None) -> dict:
    """A version's data, read as text in the transaction and decoded here, off the database thread."""
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def _newest(rows, key: str, wanted: set[tuple[int, int]]) -> dict:
    return {getattr(r, key): r.data for r in rows if (getattr(r, key), r.version) in wanted}


def read_chunk(uow: UnitOfWork, scope: Scope, after: str | None, limit: int = CHUNK) -> Fetched:
    """The next `limit` units of the subtree after path `after`, and everything of theirs for
    the year, in one transaction (a few indexed queries)."""
    stmt = (
        select(
            UNIT.c.id,
            UNIT.c.code,
            UNIT.c.name,
            UNIT.c.kind,
            UNIT.c.path,
            UNIT.c.closed_on,
            UNIT.c.merged_into,
            PARENT.c.code.label("parent_code"),
        )
        .outerjoin(PARENT, PARENT.c.id == UNIT.c.parent_id)
        .where(within(UNIT.c.path, scope.root_path, uow.conn.dialect.name))
        .order_by(UNIT.c.path)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(UNIT.c.path > after)
    found = Fetched(list(uow.conn.execute(stmt)))
    if not found.units:
        return found
    ids = [u.id for u in found.units]
    first, last = _year_span(scope.year)
    found.regs = list(
        uow.conn.execute(select(REG).where(among(REG.c.unit_id, ids), REG.c.year == scope.year).order_by(REG.c.id))
    )
    reg_ids = [r.id for r in found.regs]
    rows = uow.conn.execute(
        select(REG_VER.c.registration_id, REG_VER.c.version, sql_cast(REG_VER.c.data, Text).label("data")).where(
            among(REG_VER.c.registration_id, reg_ids)
        )
    )
    found.versions = _newest(rows, "registration_id", {(g.id, g.version) for g in found.regs})
    found.ratings = {
        (r.registration_id, r.task): r
        for r in uow.conn.execute(select(RATING).where(among(RATING.c.registration_id, reg_ids)))
    }
    found.reports = list(
        uow.conn.execute(
            select(REP)
            .where(among(REP.c.unit_id, ids), REP.c.held_on.between(first, last))
            .order_by(REP.c.unit_id, REP.c.held_on, REP.c.id)
        )
    )
    report_ids = [r.id for r in found.reports]
    rows = uow.conn.execute(
        select(REP_VER.c.report_id, REP_VER.c.version, sql_cast(REP_VER.c.data, Text).label("data")).where(
            among(REP_VER.c.report_id, report_ids)
        )
    )
    found.report_data = _newest(rows, "report_id", {(p.id, p.version) for p in found.reports})
    # A commitment is its own unit's (a merge moves it, not its dialogue): those of the chunk's
    # units whose dialogue was held in the year (the sheet "Cam kết"), and those still open
    # whenever it was held (counted per unit, as the status counts them).
    found.commitments = list(
        uow.conn.execute(
            select(
                COM,
                REP.c.held_on.label("held_on"),
                REP.c.status.label("report_status"),
                REP.c.held_on.between(first, last).label("in_year"),
            )
            .join(REP, REP.c.id == COM.c.report_id)
            .where(
                among(COM.c.unit_id, ids),
                or_(REP.c.held_on.between(first, last), COM.c.status.in_([str(s) for s in OPEN_COMMITMENTS])),
            )
            .order_by(COM.c.unit_id, REP.c.held_on, COM.c.report_id, COM.c.id)
        )
    )
    acted_on = or_(
        and_(ACTION.c.registration_id.is_not(None), among(ACTION.c.registration_id, reg_ids)),
        and_(ACTION.c.report_id.is_not(None), among(ACTION.c.report_id, report_ids)),
    )
    found.starts = bound(uow, ids, scope.tz)[1]
    found.actions = list(
        uow.conn.execute(
            select(ACTION, ACCOUNT.c.full_name)
            .outerjoin(ACCOUNT, ACCOUNT.c.id == ACTION.c.account_id)
            .where(among(ACTION.c.unit_id, ids), acted_on)
            .order_by(ACTION.c.unit_id, ACTION.c.at, ACTION.c.id)
        )
    )
    return found


def rows_of(scope: Scope, found: Fetched) -> Chunk:
    """The sheets' rows of one chunk (no database: run off the database thread)."""
    chunk = Chunk(units=len(found.units), last_path=found.last_path)
    by_id = {u.id: u for u in found.units}
    chunk.rows["units"] = _unit_rows(scope, found)
    chunk.rows["registrations"], chunk.rows["tasks"] = _registration_rows(scope, found, by_id)
    chunk.rows["meetings"], chunk.rows["dialogues"] = _report_rows(found, by_id)
    chunk.rows["commitments"] = [
        [
            by_id[c.unit_id].code,
            by_id[c.unit_id].name,
            c.held_on,
            c.promise,
            c.promised_by,
            c.due_on,
            COMMITMENT_VI.get(c.status, c.status),
            c.note or "",
        ]
        for c in found.commitments
        if c.in_year
    ]
    chunk.rows["reviews"] = [
        [
            by_id[a.unit_id].code,
            by_id[a.unit_id].name,
            _local(a.at, scope.tz),
            a.full_name or "",
            _action_text(a.action),
            _detail_text(a.detail),
            a.note or "",
        ]
        for a in found.actions
    ]
    return chunk


SHEET_LOCALE = "vi"  # the workbook is Vietnamese whatever the asker's language, as the documents are


def _action_text(action: str) -> str:
    """A review action named as /donvi names it (handlers/units.py), in Vietnamese; another as stored."""
    from chidoan.handlers.units import REVIEW_ACTIONS  # the handlers import this module
    from chidoan.i18n import gettext

    label = REVIEW_ACTIONS.get(action)
    return gettext(SHEET_LOCALE, label) if label else action


def _detail_text(detail: Any) -> str:
    """A review action's detail (storage/reviews.py) as text: "Phần việc 2, Mục I; ý kiến: …",
    "Phần việc 3 (1.4): Không đạt", "Đề xuất: Đạt / điều chỉnh: Không đạt", "phiên bản 2"."""
    if not detail:
        return ""
    if not isinstance(detail, dict):
        return str(detail)
    texts = []
    parts = [
        f"Mục {value}" if kind == "section" else f"Phần việc {value}"
        for kind, _, value in (str(part).partition(":") for part in detail.get("parts") or [])
    ]
    if parts:
        texts.append(", ".join(parts))
    result = _named(RESULT_VI, detail.get("result"))
    if detail.get("task") is not None:
        item = f" ({detail['item']})" if detail.get("item") else ""
        texts.append(f"Phần việc {detail['task']}{item}" + (f": {result}" if result else ""))
    elif detail.get("overridden") and detail.get("proposed"):
        texts.append(f"đề xuất: {_named(RESULT_VI, detail['proposed'])} / điều chỉnh: {result}")
    elif result:
        texts.append(result)
    if detail.get("comment"):
        texts.append(f"ý kiến: {detail['comment']}")
    if detail.get("version"):
        texts.append(f"phiên bản {detail['version']}")
    text = "; ".join(texts)
    return text[:1].upper() + text[1:]


def _plan_label(scope: Scope, unit, reg, start: date | None) -> str:
    """Where a registering unit's plan of the year stands, by the status's own rule
    (review/status.py), read here chunk by chunk: the status query reads a whole subtree in one
    transaction, too long for a province's export beside the replies."""
    programme = programme_for(scope.cal.programmes, scope.year, unit.kind)
    if programme is None:
        return ""
    due = scope.cal.plan_due(programme, scope.year, unit)
    if not listed(unit.closed_on, unit.merged_into, due):
        return ""
    state, _overdue = state_of(reg, due, start, scope.today, scope.cal)
    return label_of(state, reg.on_time if reg is not None else None)


def _unit_rows(scope: Scope, found: Fetched) -> list[list[Any]]:
    reg_by_unit = {r.unit_id: r for r in found.regs}
    counted: dict[tuple[int, str], int] = defaultdict(int)
    for r in found.reports:
        if r.status != ReportStatus.withdrawn:
            counted[(r.unit_id, r.kind)] += 1
    open_commitments: dict[int, int] = defaultdict(int)
    for c in found.commitments:
        if c.status in OPEN_COMMITMENTS and c.report_status != ReportStatus.withdrawn:
            open_commitments[c.unit_id] += 1
    rows = []
    for unit in found.units:
        reg = reg_by_unit.get(unit.id)
        reviewer = scope.cal.reviewer_id(unit)
        submitted = _local(reg.first_submitted_at, scope.tz) if reg is not None else None
        rows.append(
            [
                unit.code,
                unit.name,
                KIND_VI.get(unit.kind, unit.kind),
                unit.parent_code or "",
                scope.reviewer_codes.get(reviewer, "") if reviewer is not None else "",
                _plan_label(scope, unit, reg, found.starts.get(unit.id)),
                submitted.date() if submitted is not None else None,
                reg.version if reg is not None and reg.version else None,
                counted[(unit.id, ReportKind.meeting)],
                counted[(unit.id, ReportKind.dialogue)],
                open_commitments[unit.id],
            ]
        )
    return rows


def _registration_rows(scope: Scope, found: Fetched, by_id: dict) -> tuple[list, list]:
    registrations, tasks = [], []
    for reg in found.regs:
        unit = by_id[reg.unit_id]
        programme = scope.cal.programmes.get(reg.programme)
        registrations.append(
            [
                unit.code,
                unit.name,
                programme.short_name if programme is not None else reg.programme,
                reg.year,
                REG_STATUS_VI.get(reg.status, reg.status),
                reg.version,
                _local(reg.first_submitted_at, scope.tz),
                YES_NO[reg.on_time],
                scope.cal.plan_due(programme, reg.year, unit) if programme is not None else None,
                RESULT_VI.get(reg.result or "", ""),
            ]
        )
        if programme is None or not reg.version:
            continue
        data = _json(found.versions.get(reg.id))
        # Positions count the tasks of all areas in order, as item_rating.task does.
        registered = [
            task
            for area in programme.areas
            for task in data.get(f"area{area.number}", []) or []
            if isinstance(task, dict)
        ]
        for position, task in enumerate(registered, 1):
            rating = found.ratings.get((reg.id, position))
            tasks.append(
                [
                    unit.code,
                    unit.name,
                    reg.version,
                    position,
                    str(task.get("item", "")),
                    str(task.get("what", "")),
                    str(task.get("when", "")),
                    str(task.get("who", "")),
                    str(task.get("result") or ""),
                    RESULT_VI.get(rating.result, rating.result) if rating is not None else "",
                    (rating.note or "") if rating is not None else "",
                ]
            )
    return registrations, tasks


def _named(names: dict[str, str], value: Any) -> str:
    """A stored code as its Vietnamese name ("regular" → "Định kỳ"), else as it is."""
    text = "" if value is None else str(value)
    return names.get(text, text)


def _leaders(data: dict) -> str:
    leaders = [leader for leader in data.get("leaders") or [] if isinstance(leader, dict)]
    return "; ".join(", ".join(str(x) for x in (leader.get("name"), leader.get("title")) if x) for leader in leaders)


def _report_rows(found: Fetched, by_id: dict) -> tuple[list, list]:
    meetings, dialogues = [], []
    for report in found.reports:
        unit = by_id[report.unit_id]
        data = _json(found.report_data.get(report.id))
        head = [
            unit.code,
            unit.name,
            report.held_on,
            REPORT_STATUS_VI.get(report.status, report.status),
            report.version,
        ]
        if report.kind == ReportKind.meeting:
            meetings.append(
                head
                + [
                    _named(MEETING_KIND_VI, data.get("kind")),
                    data.get("theme") or "",
                    data.get("total"),
                    data.get("present"),
                    data.get("content") or "",
                    data.get("opinions") or "",
                    data.get("decisions") or "",
                    len(data.get("photos") or []),
                ]
            )
        elif report.kind == ReportKind.dialogue:
            questions = [q for q in data.get("questions") or [] if isinstance(q, dict)]
            dialogues.append(
                head
                + [
                    _named(LEVEL_VI, data.get("level")),
                    _leaders(data),
                    data.get("participants"),
                    len(questions),
                    sum(1 for q in questions if q.get("promised")),
                ]
            )
    return meetings, dialogues


class Sheets:
    """The workbook being written (write-only: rows go to temporary files as they come)."""

    def __init__(self) -> None:
        # openpyxl (with numpy, Pillow and lxml: about 23 MB) is loaded by the first export, not
        # by every worker at start.
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.styles import Font

        self.new_cell, self.illegal = WriteOnlyCell, ILLEGAL_CHARACTERS_RE
        self.book = Workbook(write_only=True)
        self.sheets = {}
        bold = Font(bold=True)
        for key, title, headers in SHEETS:
            sheet = self.book.create_sheet(title)
            sheet.freeze_panes = "A2"
            header = []
            for text in headers:
                cell = self.new_cell(sheet, value=text)
                cell.font = bold
                header.append(cell)
            sheet.append(header)
            self.sheets[key] = sheet

    def _cell(self, sheet, value: Any) -> Any:
        if isinstance(value, str):
            value = self.illegal.sub("", value)
            if not value:
                return None
            if value.startswith("="):  # a text, never a formula
                cell = self.new_cell(sheet, value=value)
                cell.data_type = "s"
                return cell
            return value
        if isinstance(value, datetime):
            cell = self.new_cell(sheet, value=value)
            cell.number_format = "dd/mm/yyyy hh:mm"
            return cell
        if isinstance(value, date):
            cell = self.new_cell(sheet, value=value)
            cell.number_format = "dd/mm/yyyy"
            return cell
        return value

    def add(self, scope: Scope, found: Fetched) -> None:
        """One chunk's rows, built and appended (on a worker thread)."""
        for key, rows in rows_of(scope, found).rows.items():
            sheet = self.sheets[key]
            for row in rows:
                sheet.append([self._cell(sheet, value) for value in row])

    def finish(self) -> bytes:
        out = io.BytesIO()
        self.book.save(out)
        return out.getvalue()


Read = Callable[[Callable[[UnitOfWork], Any]], Awaitable[Any]]
Render = Callable[..., Awaitable[Any]]


async def export(
    read: Read,
    render: Render,
    root_id: int,
    year: int,
    settings,
    *,
    progress: Callable[[int, int], None] | None = None,
    chunk_size: int = CHUNK,
    now: datetime | None = None,
) -> bytes:
    """The .xlsx of the subtree of `root_id` for `year`: read a chunk (one transaction), append
    it on a worker thread, and so on; `progress(done, total)` after each chunk."""
    today = (now or datetime.now(UTC)).astimezone(settings.tz).date()
    scope, total = await read(lambda uow: scope_of(uow, root_id, year, settings, today))
    sheets: Sheets = await render(Sheets)
    after: str | None = None
    done = 0
    while True:
        found = await read(partial(read_chunk, scope=scope, after=after, limit=chunk_size))
        if not found.units:
            break
        await render(sheets.add, scope, found)
        done += len(found.units)
        after = found.last_path
        if progress is not None:
            progress(done, total)
        if len(found.units) < chunk_size:
            break
    return await render(sheets.finish)


def export_filename(code: str, year: int) -> str:
    """ "chidoan-RG-2027.xlsx": ASCII only."""
    from chidoan.documents.plan import _ascii

    short = _ascii(code)[:40].strip("-") or "export"
    return f"chidoan-{short}-{int(year)}.xlsx"


__all__ = ["SHEETS", "Sheets", "export", "export_filename", "read_chunk", "scope_of"]


# ---- a province's export in a child process ----------------------------------------------------

# Above this many units the export runs in a child process with its own connection: its Python
# work (decoding, building rows, writing the workbook: seconds for a province) then competes
# neither with the replies for the interpreter nor with them for the database thread.
CHILD_ABOVE = 2000
_pool: ProcessPoolExecutor | None = None


def export_file(settings, root_id: int, year: int, now: datetime) -> bytes:
    """In the child process: the whole export, read through the child's own connection."""
    from chidoan.reminders.run import _db
    from chidoan.storage.uow import unit_of_work

    db = _db(settings.database_url)

    async def read(work):
        with unit_of_work(db) as uow:
            return work(uow)

    async def render(work, *args):
        return work(*args)

    return asyncio.run(export(read, render, root_id, year, settings, now=now))


async def export_elsewhere(settings, root_id: int, year: int, now: datetime) -> bytes:
    """The export in the child process (spawned once, kept; a dead one is replaced)."""
    global _pool
    loop = asyncio.get_running_loop()
    for attempt in (1, 2):
        if _pool is None:  # spawned, not forked: this process has threads and an event loop
            from chidoan.reminders.run import child_started

            _pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=child_started
            )
        try:
            return await loop.run_in_executor(_pool, export_file, settings, root_id, year, now)
        except BrokenProcessPool:
            _pool = None
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def shared_database(url: str) -> bool:
    """Whether another process can open this database (not an in-memory SQLite one)."""
    return not (url.startswith("sqlite") and (":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite+pysqlite:")))


def units_below(uow: UnitOfWork, root_id: int) -> int:
    root = uow.units.one(root_id)
    stmt = select(func.count()).select_from(UNIT).where(within(UNIT.c.path, root.path, uow.conn.dialect.name))
    return uow.conn.execute(stmt).scalar_one()
