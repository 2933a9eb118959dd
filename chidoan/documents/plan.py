"""The base unit's registration plan: “KẾ HOẠCH Đăng ký xây dựng Đoàn cơ sở “3 chủ động” năm …”.

The Word template (templates/plan.docx) is built by scripts/make_templates.py
and only rendered here, with docxtpl.  Everything a user typed is passed to
the template as data, already escaped for XML: Jinja never evaluates it, so
``{{ 7*7 }}``, ``<b>`` or ``&`` come out verbatim.  Newlines inside a field
become line breaks; the purpose and implementation texts are split into one
paragraph per line.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from markupsafe import Markup, escape

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

__all__ = ["PlanTask", "PlanArea", "PlanDocument", "render_plan", "plan_filename", "TEMPLATES_DIR"]


@dataclass(frozen=True)
class PlanTask:
    item: str  # the code of the registered item, e.g. "1.2"
    what: str
    when: str
    who: str
    result: str | None = None
    item_title: str = ""  # the programme's title of the item, "Nắm tình hình tư tưởng đoàn viên, thanh niên"


@dataclass(frozen=True)
class PlanArea:
    number: int
    title: str
    tasks: list[PlanTask]


@dataclass(frozen=True)
class PlanDocument:
    committee_line: str  # "BCH ĐOÀN THÀNH ĐOÀN RẠCH GIÁ"
    unit_line: str  # "BCH ĐOÀN PHƯỜNG VĨNH BẢO"
    unit_name: str  # "Đoàn phường Vĩnh Bảo"
    unit_abbr: str  # "ĐPVB"
    number: str  # the document number; "" before the office gives one
    place: str  # "Rạch Giá"
    date: date
    year: int  # the year the plan is for
    title: str  # "Đăng ký xây dựng Đoàn cơ sở “3 chủ động” năm 2027"
    programme_short: str  # "“3 chủ động”"
    basis: str  # "Hướng dẫn số 12-HD/TĐTN-TCKT …"
    purpose: str
    areas: list[PlanArea]
    implementation: str
    signer_name: str
    recipients: list[str]
    # Signed by the deputy on the secretary's behalf: "KT. BÍ THƯ / PHÓ BÍ THƯ" instead of "BÍ THƯ".
    signed_by_deputy: bool = False


# Characters XML 1.0 cannot hold (docxtpl would also read \a and \f as
# "new paragraph" and "page break").
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_END_PUNCTUATION = (".", "!", "?", "…", ":", ";")


def _clean(value: object) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    return _NOT_XML.sub("", text).strip()


def _xml(value: object) -> Markup:
    """User text as escaped XML, safe from both Jinja and docxtpl's post-processing."""
    text = str(escape(_clean(value)))
    # docxtpl turns "{_{", "}_}", "{_%", "%_}" into "{{", "}}", "{%", "%}" after
    # rendering; a character reference keeps the underscore out of its way.
    text = text.replace("{_", "{&#95;").replace("_}", "&#95;}")
    return Markup(text)


def _paragraphs(text: str) -> list[Markup]:
    return [_xml(line) for line in _clean(text).split("\n") if line.strip()]


def _end(text: str) -> str:
    """The full stop that closes a line, unless the user's text already ends one."""
    return "" if _clean(text).endswith(_END_PUNCTUATION) else "."


def _day_month(d: date) -> tuple[str, str]:
    # Nghị định 30/2020: a 0 before days below 10 and months below 3.
    return f"{d.day:02d}", (f"{d.month:02d}" if d.month < 3 else str(d.month))


def _recipients(recipients: list[str]) -> list[Markup]:
    out = []
    for recipient in recipients:
        text = _clean(recipient).rstrip(";,. ").strip()
        if text and text.casefold() not in ("lưu", "lưu."):  # "- Lưu." is always added
            out.append(_xml(text))
    return out


def _heading(text: str) -> tuple[Markup, str]:
    """A heading's text and the one full stop that ends it."""
    title = _clean(text).rstrip(". ")
    return _xml(title), _end(title)


def _items(tasks: list[PlanTask]) -> list[dict]:
    """The area's tasks under their items, each item once (where its first task stands), its
    tasks in the order given."""
    items: dict[str, dict] = {}
    for task in tasks:
        code = _clean(task.item)
        if code not in items:
            title, end = _heading(task.item_title)
            items[code] = {"code": _xml(code), "title": title, "end": end, "tasks": []}
        result = _clean(task.result)
        items[code]["tasks"].append(
            {
                "what": _xml(task.what),
                "when": _xml(task.when),
                "who": _xml(task.who),
                "result": _xml(result),
                "end": _end(result or task.who),
            }
        )
    return list(items.values())


def _context(doc: PlanDocument) -> dict:
    day, month = _day_month(doc.date)
    areas = []
    for area in doc.areas:
        title, end = _heading(area.title)
        areas.append({"number": int(area.number), "title": title, "end": end, "plan_items": _items(area.tasks)})
    return {
        "committee_line": _xml(doc.committee_line),
        "unit_line": _xml(doc.unit_line),
        "unit_name": _xml(doc.unit_name),
        "unit_abbr": _xml(doc.unit_abbr),
        "number": _xml(doc.number) or Markup("…"),
        "place": _xml(doc.place),
        "day": day,
        "month": month,
        "year_of_date": str(doc.date.year),
        "year": int(doc.year),
        "title": _xml(doc.title),
        "programme_short": _xml(doc.programme_short),
        "basis": _xml(doc.basis),
        "purpose": _paragraphs(doc.purpose),
        "areas": areas,
        "implementation": _paragraphs(doc.implementation),
        "signer_name": _xml(doc.signer_name),
        "signed_by_deputy": bool(doc.signed_by_deputy),
        "recipients": _recipients(doc.recipients),
    }


def render_plan(doc: PlanDocument, template: str = "plan.docx") -> bytes:
    """The plan as the bytes of a .docx file."""
    from docxtpl import DocxTemplate
    from jinja2 import Environment, StrictUndefined

    tpl = DocxTemplate(str(TEMPLATES_DIR / template))
    env = Environment(autoescape=True, undefined=StrictUndefined)
    tpl.render(_context(doc), jinja_env=env, autoescape=True)
    out = io.BytesIO()
    tpl.save(out)
    return out.getvalue()


def _ascii(text: str) -> str:
    text = text.replace("Đ", "D").replace("đ", "d")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def plan_filename(unit_abbr: str, year: int) -> str:
    """ "KH-3CD-2027-DPVB.docx": ASCII only, safe for Telegram and Windows."""
    abbr = _ascii(unit_abbr or "")[:40].strip("-")
    return f"KH-3CD-{int(year)}-{abbr}.docx" if abbr else f"KH-3CD-{int(year)}.docx"
