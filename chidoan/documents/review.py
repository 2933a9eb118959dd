"""The reviewing unit's documents: its compiled report on the registrations of the units it
reviews (“BÁO CÁO Kết quả đăng ký xây dựng Đoàn cơ sở “3 chủ động” năm …”, sent to the level
above, seed 004 step 2) and the recognition decision (“QUYẾT ĐỊNH V/v công nhận Đoàn cơ sở
“3 chủ động” năm …”, step 3, with the list of the units recognised).

The templates (templates/compiled.docx, templates/decision.docx) are built by
scripts/make_templates.py; as for the plan (documents/plan.py), everything read from the
database goes in as escaped data, never as template code. Rendering is pure: the caller reads
the data (documents/gather.py) and renders off the database thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date

from markupsafe import Markup

from chidoan.documents.plan import TEMPLATES_DIR, _ascii, _day_month, _paragraphs, _recipients, _xml

__all__ = [
    "Header",
    "UnitLine",
    "TaskLine",
    "CompiledDocument",
    "DecisionDocument",
    "render_compiled",
    "render_decision",
    "compiled_filename",
    "decision_filename",
    "percent",
]


@dataclass(frozen=True)
class Header:
    committee_line: str  # the level above, upper-case ("TỈNH ĐOÀN KIÊN GIANG"), or ""
    unit_line: str  # "BCH THÀNH ĐOÀN RẠCH GIÁ"
    unit_name: str  # "Thành đoàn Rạch Giá"
    unit_abbr: str  # "TĐRG"
    place: str  # "Rạch Giá"
    date: date
    number: str = ""  # the document number; "" before the office gives one
    signer_name: str = ""
    recipients: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TaskLine:
    item: str
    what: str
    when: str
    who: str


@dataclass(frozen=True)
class UnitLine:
    name: str
    status: str  # in Vietnamese, as the document shows it ("Đúng hạn", "Chưa đăng ký"...)
    sent: date | None = None  # first submitted, local day
    tasks: list[TaskLine] = field(default_factory=list)
    passed_tasks: int | None = None  # year-end ratings (the decision's list)
    rated_tasks: int | None = None


@dataclass(frozen=True)
class CompiledDocument:
    header: Header
    year: int
    title: str  # "Kết quả đăng ký xây dựng Đoàn cơ sở “3 chủ động” năm 2027"
    programme_short: str
    basis: str
    due: date  # the first late day ("trước ngày 15/10/2026")
    expected: int
    on_time: int
    late: int
    units: list[UnitLine]
    areas: list[tuple[int, str, int]]  # (number, short title, tasks registered)
    proposals: str

    @property
    def registered(self) -> int:
        return self.on_time + self.late

    @property
    def missing(self) -> int:
        return self.expected - self.registered


@dataclass(frozen=True)
class DecisionDocument:
    header: Header
    year: int
    title: str  # "Đoàn cơ sở “3 chủ động” năm 2027"
    basis: str
    units: list[UnitLine]  # the units recognised (result passed)


def percent(part: int, whole: int) -> str:
    """ "87,5%" (a Vietnamese decimal comma; one decimal, none when whole); "—" of nothing."""
    if whole <= 0:
        return "—"
    value = round(100 * part / whole, 1)
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") + "%"


def _header(header: Header) -> dict:
    day, month = _day_month(header.date)
    return {
        "committee_line": _xml(header.committee_line),
        "unit_line": _xml(header.unit_line),
        "unit_name": _xml(header.unit_name),
        "unit_upper": _xml(header.unit_name.upper()),
        "unit_abbr": _xml(header.unit_abbr),
        "number": _xml(header.number) or Markup("…"),
        "place": _xml(header.place),
        "day": day,
        "month": month,
        "year_of_date": str(header.date.year),
        "signer_name": _xml(header.signer_name),
        "recipients": _recipients(header.recipients),
    }


def _day(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def compiled_context(doc: CompiledDocument) -> dict:
    units = [
        {
            "number": index,
            "name": _xml(unit.name),
            "sent": _day(unit.sent),
            "tasks": str(len(unit.tasks)) if unit.sent else "",
            "status": _xml(unit.status),
        }
        for index, unit in enumerate(doc.units, 1)
    ]
    appendix = [
        {
            "number": index,
            "name": _xml(unit.name),
            "tasks": [
                {
                    "number": n,
                    "item": _xml(task.item),
                    "what": _xml(task.what),
                    "when": _xml(task.when),
                    "who": _xml(task.who),
                }
                for n, task in enumerate(unit.tasks, 1)
            ],
        }
        for index, unit in enumerate((u for u in doc.units if u.tasks), 1)
    ]
    return _header(doc.header) | {
        "title": _xml(doc.title),
        "programme_short": _xml(doc.programme_short),
        "basis": _xml(doc.basis),
        "year": int(doc.year),
        "due": _day(doc.due),
        "expected": doc.expected,
        "registered": doc.registered,
        "on_time": doc.on_time,
        "late": doc.late,
        "missing": doc.missing,
        "reporting_rate": percent(doc.registered, doc.expected),
        "on_time_rate": percent(doc.on_time, doc.expected),
        "task_count": sum(len(u.tasks) for u in doc.units),
        "areas": [{"number": n, "title": _xml(title), "count": count} for n, title, count in doc.areas],
        "units": units,
        "proposals": _paragraphs(doc.proposals),
        "appendix": appendix,
    }


def decision_context(doc: DecisionDocument) -> dict:
    units = [
        {
            "number": index,
            "name": _xml(unit.name),
            "rated": f"{unit.passed_tasks}/{len(unit.tasks)}" if unit.passed_tasks is not None else "",
        }
        for index, unit in enumerate(doc.units, 1)
    ]
    return _header(doc.header) | {
        "title": _xml(doc.title),
        "basis": _xml(doc.basis),
        "year": int(doc.year),
        "count": f"{len(doc.units):02d}",
        "units": units,
    }


def _render(template: str, context: dict) -> bytes:
    from docxtpl import DocxTemplate
    from jinja2 import Environment, StrictUndefined

    tpl = DocxTemplate(str(TEMPLATES_DIR / template))
    env = Environment(autoescape=True, undefined=StrictUndefined)
    tpl.render(context, jinja_env=env, autoescape=True)
    out = io.BytesIO()
    tpl.save(out)
    return out.getvalue()


def render_compiled(doc: CompiledDocument) -> bytes:
    return _render("compiled.docx", compiled_context(doc))


def render_decision(doc: DecisionDocument) -> bytes:
    return _render("decision.docx", decision_context(doc))


def _name(prefix: str, abbr: str, year: int) -> str:
    short = _ascii(abbr or "")[:40].strip("-")
    return f"{prefix}-3CD-{int(year)}-{short}.docx" if short else f"{prefix}-3CD-{int(year)}.docx"


def compiled_filename(unit_abbr: str, year: int) -> str:
    """ "BC-3CD-2027-TDRG.docx"."""
    return _name("BC", unit_abbr, year)


def decision_filename(unit_abbr: str, year: int) -> str:
    """ "QD-3CD-2027-TDRG.docx"."""
    return _name("QD", unit_abbr, year)
