"""Build the Word templates under chidoan/documents/templates/.

The templates are generated once here, with python-docx, and committed; at run
time the bot only renders them with docxtpl (chidoan/documents/plan.py).

    /work/venv/bin/python scripts/make_templates.py

Layout follows the administrative document format of Nghị định 30/2020/NĐ-CP as
the Youth Union uses it: A4, margins 2 cm top/bottom, 3 cm left, 2 cm right,
Times New Roman 14 pt, a borderless two-column header (issuing body on the
left, "ĐOÀN TNCS HỒ CHÍ MINH" on the right), the number under the issuing body
and the place and date in italics under the right-hand heading, a centred
bold title, numbered sections, and the signature block on the right with
"Nơi nhận:" on the left.  Pages after the first carry their number at the top.

Every template tag sits whole in a single run, which is what docxtpl needs;
paragraph loops use ``{%p … %}`` in paragraphs of their own.
"""

from __future__ import annotations

import io
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "chidoan" / "documents" / "templates"

FONT = "Times New Roman"
BODY_PT = 14
HEADER_PT = 13  # the issuing body and the number, on the left of the header
TEXT_WIDTH_CM = 16.0  # 21 cm − 3 cm − 2 cm
LEFT_COL_CM = 8.0
RIGHT_COL_CM = TEXT_WIDTH_CM - LEFT_COL_CM
FIRST_LINE_CM = 1.0
# A fixed time stamp, so that re-running the script gives the same bytes.
STAMP = datetime(2025, 1, 1, tzinfo=UTC)

CENTER = WD_ALIGN_PARAGRAPH.CENTER
JUSTIFY = WD_ALIGN_PARAGRAPH.JUSTIFY
LEFT = WD_ALIGN_PARAGRAPH.LEFT


# ---------------------------------------------------------------- fonts, page


def _set_fonts(rpr) -> None:
    """Times New Roman for every script slot (Latin, high ANSI, complex, East Asian).

    Theme attributes (w:asciiTheme …) win over explicit names in Word, so they go.
    """
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(0, rfonts)
    for attr in list(rfonts.attrib):
        if attr.lower().endswith("theme"):
            del rfonts.attrib[attr]
    for slot in ("ascii", "hAnsi", "cs", "eastAsia"):
        rfonts.set(qn(f"w:{slot}"), FONT)


def _set_size(rpr, pt: float) -> None:
    for tag in ("w:sz", "w:szCs"):
        el = rpr.find(qn(tag))
        if el is None:
            el = OxmlElement(tag)
            rpr.append(el)
        el.set(qn("w:val"), str(int(pt * 2)))


def _set_lang(rpr) -> None:
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:val"), "vi-VN")
    lang.set(qn("w:eastAsia"), "vi-VN")
    lang.set(qn("w:bidi"), "ar-SA")


def _setup_styles(doc) -> None:
    styles_el = doc.styles.element
    # Document defaults: what every run and paragraph inherits.
    doc_defaults = styles_el.find(qn("w:docDefaults"))
    rpr = doc_defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _set_fonts(rpr)
    _set_size(rpr, BODY_PT)
    _set_lang(rpr)
    ppr_default = doc_defaults.find(qn("w:pPrDefault")).find(qn("w:pPr"))
    spacing = ppr_default.find(qn("w:spacing"))
    if spacing is not None:
        spacing.set(qn("w:after"), "120")
        spacing.set(qn("w:line"), "240")
        spacing.set(qn("w:lineRule"), "auto")
    # No theme font anywhere (Word prefers the theme over the explicit name).
    for rfonts in styles_el.iter(qn("w:rFonts")):
        for attr in list(rfonts.attrib):
            if attr.lower().endswith("theme"):
                del rfonts.attrib[attr]
        for slot in ("ascii", "hAnsi", "cs", "eastAsia"):
            rfonts.set(qn(f"w:{slot}"), FONT)

    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(BODY_PT)
    _set_fonts(normal.element.get_or_add_rPr())
    _set_size(normal.element.get_or_add_rPr(), BODY_PT)
    pf = normal.paragraph_format
    pf.space_before = Pt(0)
    pf.space_after = Pt(6)
    pf.line_spacing_rule = WD_LINE_SPACING.SINGLE
    pf.widow_control = True


def _setup_page(doc) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width = Cm(21)
    section.page_height = Cm(29.7)
    section.top_margin = Cm(2)
    section.bottom_margin = Cm(2)
    section.left_margin = Cm(3)
    section.right_margin = Cm(2)
    section.header_distance = Cm(1)
    section.footer_distance = Cm(1)
    # Page number at the top centre, from page 2 on (Nghị định 30/2020).
    section.different_first_page_header_footer = True
    header_p = section.header.paragraphs[0]
    header_p.alignment = CENTER
    header_p.paragraph_format.space_after = Pt(0)
    fld = OxmlElement("w:fldSimple")
    fld.set(qn("w:instr"), " PAGE ")
    run = OxmlElement("w:r")
    rpr = OxmlElement("w:rPr")
    _set_fonts(rpr)
    _set_size(rpr, 13)
    run.append(rpr)
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    fld.append(run)
    header_p._p.append(fld)
    section.first_page_header.paragraphs[0].paragraph_format.space_after = Pt(0)


def _setup_settings(doc) -> None:
    settings = doc.settings.element
    # A justified line that ends with a manual line break (a newline the user
    # typed inside a task) is not stretched across the page.
    compat = settings.find(qn("w:compat"))
    if compat is None:
        compat = OxmlElement("w:compat")
        settings.append(compat)
    if compat.find(qn("w:doNotExpandShiftReturn")) is None:
        compat.insert(0, OxmlElement("w:doNotExpandShiftReturn"))
    theme_lang = settings.find(qn("w:themeFontLang"))
    if theme_lang is not None:
        theme_lang.set(qn("w:val"), "vi-VN")
        theme_lang.attrib.pop(qn("w:eastAsia"), None)


# ---------------------------------------------------------------- paragraphs


def para(
    container,
    *runs,
    align=JUSTIFY,
    size: float | None = None,
    first_line: float | None = None,
    left: float | None = None,
    before: float = 0,
    after: float = 6,
    keep_next: bool = False,
):
    """Add a paragraph made of ``runs``: strings or (text, {"b", "i", "u"}) pairs."""
    p = container.add_paragraph()
    pf = p.paragraph_format
    p.alignment = align
    pf.space_before = Pt(before)
    pf.space_after = Pt(after)
    pf.line_spacing_rule = WD_LINE_SPACING.SINGLE
    if first_line is not None:
        pf.first_line_indent = Cm(first_line)
    if left is not None:
        pf.left_indent = Cm(left)
    if keep_next:
        pf.keep_with_next = True
    for item in runs:
        text, fmt = (item, "") if isinstance(item, str) else item
        r = p.add_run(text)
        r.bold = "b" in fmt or None
        r.italic = "i" in fmt or None
        r.underline = "u" in fmt or None
        if size is not None:
            r.font.size = Pt(size)
        _set_fonts(r._r.get_or_add_rPr())
    return p


def tag(container, text: str):
    """A paragraph holding only a ``{%p … %}`` tag; docxtpl removes it on rendering."""
    return para(container, text, align=LEFT, after=0)


# ---------------------------------------------------------------- tables


def _no_borders(table) -> None:
    tbl_pr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    tbl_pr.append(borders)


def _fixed_layout(table, widths_cm: list[float]) -> None:
    table.autofit = False
    table.alignment = WD_TABLE_ALIGNMENT.LEFT
    tbl_pr = table._tbl.tblPr
    tbl_w = tbl_pr.find(qn("w:tblW"))
    if tbl_w is None:
        tbl_w = OxmlElement("w:tblW")
        tbl_pr.append(tbl_w)
    tbl_w.set(qn("w:type"), "dxa")
    tbl_w.set(qn("w:w"), str(int(sum(widths_cm) / 2.54 * 1440)))
    # Cell margins of 0 left and right, so the columns line up with the text.
    mar = OxmlElement("w:tblCellMar")
    for edge in ("left", "right"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:w"), "0")
        el.set(qn("w:type"), "dxa")
        mar.append(el)
    tbl_pr.append(mar)
    for col, width in zip(table.columns, widths_cm, strict=False):
        col.width = Cm(width)
        for cell in col.cells:
            cell.width = Cm(width)
    for grid_col, width in zip(table._tbl.tblGrid.findall(qn("w:gridCol")), widths_cm, strict=False):
        grid_col.set(qn("w:w"), str(int(width / 2.54 * 1440)))


_TBL_PR_ORDER = [
    "tblStyle",
    "tblpPr",
    "tblOverlap",
    "bidiVisual",
    "tblStyleRowBandSize",
    "tblStyleColBandSize",
    "tblW",
    "jc",
    "tblCellSpacing",
    "tblInd",
    "tblBorders",
    "shd",
    "tblLayout",
    "tblCellMar",
    "tblLook",
    "tblCaption",
    "tblDescription",
]


def _order_tbl_pr(table) -> None:
    """Put the children of w:tblPr in schema order (Word is strict about it)."""
    tbl_pr = table._tbl.tblPr
    children = list(tbl_pr)
    for child in children:
        tbl_pr.remove(child)
    rank = {qn(f"w:{name}"): i for i, name in enumerate(_TBL_PR_ORDER)}
    for child in sorted(children, key=lambda el: rank.get(el.tag, len(rank))):
        tbl_pr.append(child)


def _cant_split(row) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    el = OxmlElement("w:cantSplit")
    tr_pr.append(el)


def borderless_table(doc, rows: int, widths_cm: list[float]):
    table = doc.add_table(rows=rows, cols=len(widths_cm))
    _no_borders(table)
    _fixed_layout(table, widths_cm)
    _order_tbl_pr(table)
    for row in table.rows:
        _cant_split(row)
        for cell in row.cells:
            cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
            # A new cell holds one empty paragraph; drop it, we add our own.
            for p in list(cell.paragraphs):
                p._p.getparent().remove(p._p)
    return table


# ---------------------------------------------------------------- the plan


def _blank():
    """A document with the templates' styles, page and settings."""
    doc = Document()
    _setup_styles(doc)
    _setup_page(doc)
    _setup_settings(doc)
    return doc


def build_plan(path: Path) -> None:
    doc = _blank()

    _header(doc, "KH")  # issuing body | ĐOÀN TNCS HỒ CHÍ MINH; number | place and date

    # Title.
    para(doc, ("KẾ HOẠCH", "b"), align=CENTER, size=15, before=24, after=0, keep_next=True)
    para(doc, ("{{ title }}", "b"), align=CENTER, after=18, keep_next=True)

    # Introduction.
    para(
        doc,
        "Căn cứ {{ basis }}, Ban Chấp hành {{ unit_name }} đăng ký xây dựng Đoàn cơ sở "
        "{{ programme_short }} năm {{ year }}, với nội dung cụ thể như sau:",
        first_line=FIRST_LINE_CM,
    )

    # I. Purpose.
    para(doc, ("I. MỤC ĐÍCH, YÊU CẦU", "b"), first_line=FIRST_LINE_CM, before=6, keep_next=True)
    tag(doc, "{%p for text in purpose %}")
    para(doc, "{{ text }}", first_line=FIRST_LINE_CM)
    tag(doc, "{%p endfor %}")

    # II. What the unit registers, area by area.
    para(doc, ("II. NỘI DUNG ĐĂNG KÝ", "b"), first_line=FIRST_LINE_CM, before=6, keep_next=True)
    tag(doc, "{%p for area in areas %}")
    para(doc, ("{{ area.number }}. {{ area.title }}{{ area.end }}", "b"), first_line=FIRST_LINE_CM, keep_next=True)
    tag(doc, "{%p for item in area.plan_items %}")
    para(
        doc,
        ("{{ item.code }}.{% if item.title %} {{ item.title }}{{ item.end }}{% endif %}", "i"),
        first_line=FIRST_LINE_CM,
        keep_next=True,
    )
    tag(doc, "{%p for task in item.tasks %}")
    para(doc, "- {{ task.what }}", first_line=FIRST_LINE_CM, after=0)
    para(
        doc,
        ("Thời gian: ", "i"),
        "{{ task.when }}",
        ("; Phụ trách: ", "i"),
        "{{ task.who }}",
        "{% if task.result %}",
        ("; Kết quả dự kiến: ", "i"),
        "{{ task.result }}",
        "{% endif %}",
        "{{ task.end }}",
        first_line=FIRST_LINE_CM,
    )
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p endfor %}")

    # III. Implementation.
    para(doc, ("III. TỔ CHỨC THỰC HIỆN", "b"), first_line=FIRST_LINE_CM, before=6, keep_next=True)
    tag(doc, "{%p for text in implementation %}")
    para(doc, "{{ text }}", first_line=FIRST_LINE_CM)
    tag(doc, "{%p endfor %}")

    # Signature block (right) and recipients (left), kept on one page.
    para(doc, "", after=0, keep_next=True)
    sign = borderless_table(doc, 1, [LEFT_COL_CM, RIGHT_COL_CM])
    left, right = sign.rows[0].cells
    para(left, ("Nơi nhận:", "bi"), align=LEFT, size=12, after=0)
    tag(left, "{%p for recipient in recipients %}")
    para(left, "- {{ recipient }};", align=LEFT, size=11, after=0)
    tag(left, "{%p endfor %}")
    para(left, "- Lưu.", align=LEFT, size=11, after=0)
    para(right, ("TM. BAN CHẤP HÀNH", "b"), align=CENTER, after=0)
    tag(right, "{%p if signed_by_deputy %}")  # the deputy signs on the secretary's behalf
    para(right, ("KT. BÍ THƯ", "b"), align=CENTER, after=0)
    para(right, ("PHÓ BÍ THƯ", "b"), align=CENTER, after=0)
    tag(right, "{%p else %}")
    para(right, ("BÍ THƯ", "b"), align=CENTER, after=0)
    tag(right, "{%p endif %}")
    for _ in range(4):
        para(right, "", align=CENTER, after=0)
    para(right, ("{{ signer_name }}", "b"), align=CENTER, after=0)

    _finish(doc, path, "Kế hoạch đăng ký xây dựng Đoàn cơ sở 3 chủ động")


def _finish(doc, path: Path, title: str) -> None:
    """Fixed properties and time stamps, so re-running the script gives the same bytes."""
    props = doc.core_properties
    props.author = "chidoan"
    props.last_modified_by = "chidoan"
    props.title = title
    props.subject = ""
    props.comments = ""
    props.language = "vi-VN"
    props.created = STAMP.replace(tzinfo=None)
    props.modified = STAMP.replace(tzinfo=None)
    props.revision = 1

    # python-docx's own template carries a thumbnail of another document.
    package = doc.part.package
    for r_id, rel in list(package.rels.items()):
        if rel.reltype == RT.THUMBNAIL:
            package.rels.pop(r_id)

    buffer = io.BytesIO()
    doc.save(buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_stable_zip(buffer.getvalue()))


# ---------------------------------------------------------------- the reviewing unit's documents


def _header(doc, kind: str) -> None:
    """The two-column header of every template (the plan's "KH", the reviewing unit's "BC" and
    "QĐ"): the level above and the unit on
    the left with "Số: …-<kind>/<abbr>", the Union's name and the place and date on the right."""
    header = borderless_table(doc, 2, [LEFT_COL_CM, RIGHT_COL_CM])
    left, right = header.rows[0].cells
    para(left, "{{ committee_line }}", align=CENTER, size=HEADER_PT, after=0)
    para(left, ("{{ unit_line }}", "b"), align=CENTER, size=HEADER_PT, after=0)
    para(left, "***", align=CENTER, size=HEADER_PT, after=0)
    para(right, ("ĐOÀN TNCS HỒ CHÍ MINH", "bu"), align=CENTER, size=15, after=0)
    left, right = header.rows[1].cells
    para(left, f"Số: {{{{ number }}}}-{kind}/{{{{ unit_abbr }}}}", align=CENTER, size=HEADER_PT, before=6, after=0)
    para(
        right,
        ("{{ place }}, ngày {{ day }} tháng {{ month }} năm {{ year_of_date }}", "i"),
        align=CENTER,
        before=6,
        after=0,
    )


def _borders(table) -> None:
    tbl_pr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "single")
        el.set(qn("w:sz"), "4")
        el.set(qn("w:space"), "0")
        el.set(qn("w:color"), "000000")
        borders.append(el)
    tbl_pr.append(borders)


def grid_table(doc, header: list[str], widths_cm: list[float], row: list[str], *, loop: str, size: float = 12):
    """A bordered table: a bold header row (repeated on every page), then one row per item of
    ``loop`` ("u in units"), its cells' texts in ``row``, between docxtpl's ``{%tr %}`` rows."""
    table = doc.add_table(rows=4, cols=len(widths_cm))
    _borders(table)
    _fixed_layout(table, widths_cm)
    # Cells a little inside their borders (the layout above sets 0 for the borderless header).
    mar = table._tbl.tblPr.find(qn("w:tblCellMar"))
    for el in mar:
        el.set(qn("w:w"), "85")
    _order_tbl_pr(table)
    for r in table.rows:
        for cell in r.cells:
            for p in list(cell.paragraphs):
                p._p.getparent().remove(p._p)
    head, start, body, end = table.rows
    head._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    _cant_split(head)
    _cant_split(body)
    for cell, text in zip(head.cells, header, strict=True):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        para(cell, (text, "b"), align=CENTER, size=size, after=0)
    for index, cell in enumerate(start.cells):
        para(cell, f"{{%tr for {loop} %}}" if index == 0 else "", align=LEFT, size=size, after=0)
    for index, (cell, text) in enumerate(zip(body.cells, row, strict=True)):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
        para(cell, text, align=CENTER if index == 0 else LEFT, size=size, after=0)
    for index, cell in enumerate(end.cells):
        para(cell, "{%tr endfor %}" if index == 0 else "", align=LEFT, size=size, after=0)
    return table


def _signature(doc, recipients_before: list[str]) -> None:
    """TM. BAN THƯỜNG VỤ on the right; "Nơi nhận:" on the left (the document's recipients, then
    ``recipients_before``' fixed lines, then "- Lưu.")."""
    para(doc, "", after=0, keep_next=True)
    sign = borderless_table(doc, 1, [LEFT_COL_CM, RIGHT_COL_CM])
    left, right = sign.rows[0].cells
    para(left, ("Nơi nhận:", "bi"), align=LEFT, size=12, after=0)
    tag(left, "{%p for recipient in recipients %}")
    para(left, "- {{ recipient }};", align=LEFT, size=11, after=0)
    tag(left, "{%p endfor %}")
    for line in recipients_before:
        para(left, line, align=LEFT, size=11, after=0)
    para(left, "- Lưu.", align=LEFT, size=11, after=0)
    para(right, ("TM. BAN THƯỜNG VỤ", "b"), align=CENTER, after=0)
    para(right, ("BÍ THƯ", "b"), align=CENTER, after=0)
    for _ in range(4):
        para(right, "", align=CENTER, after=0)
    para(right, ("{{ signer_name }}", "b"), align=CENTER, after=0)


def _new_page(doc):
    p = para(doc, "", after=0)
    p.paragraph_format.page_break_before = True
    return p


def build_compiled(path: Path) -> None:
    """The reviewing unit's report to the level above on its units' registrations (seed 004,
    step 2): the shape of the KẾ HOẠCH, with counts, the list of units and the registered tasks."""
    doc = _blank()
    _header(doc, "BC")

    para(doc, ("BÁO CÁO", "b"), align=CENTER, size=15, before=24, after=0, keep_next=True)
    para(doc, ("{{ title }}", "b"), align=CENTER, after=18, keep_next=True)
    para(
        doc,
        "Thực hiện {{ basis }}, Ban Thường vụ {{ unit_name }} báo cáo kết quả đăng ký xây dựng Đoàn "
        "cơ sở {{ programme_short }} năm {{ year }} của các Đoàn cơ sở trực thuộc như sau:",
        first_line=FIRST_LINE_CM,
    )

    para(doc, ("I. KẾT QUẢ ĐĂNG KÝ", "b"), first_line=FIRST_LINE_CM, before=6, keep_next=True)
    para(
        doc,
        "- Tổng số Đoàn cơ sở phải đăng ký: {{ expected }} đơn vị.",
        first_line=FIRST_LINE_CM,
    )
    para(
        doc,
        "- Số Đoàn cơ sở đã đăng ký: {{ registered }} đơn vị, đạt tỷ lệ {{ reporting_rate }}; trong đó "
        "đúng hạn (trước ngày {{ due }}): {{ on_time }} đơn vị, đạt tỷ lệ {{ on_time_rate }}; "
        "trễ hạn: {{ late }} đơn vị.",
        first_line=FIRST_LINE_CM,
    )
    para(doc, "- Số Đoàn cơ sở chưa đăng ký: {{ missing }} đơn vị.", first_line=FIRST_LINE_CM)
    para(
        doc,
        "- Tổng số phần việc đã đăng ký: {{ task_count }} phần việc; trong đó:",
        first_line=FIRST_LINE_CM,
    )
    tag(doc, "{%p for area in areas %}")
    para(
        doc,
        "+ Lĩnh vực {{ area.number }} ({{ area.title }}): {{ area.count }} phần việc.",
        first_line=FIRST_LINE_CM,
    )
    tag(doc, "{%p endfor %}")

    para(
        doc, ("II. DANH SÁCH ĐOÀN CƠ SỞ VÀ TÌNH HÌNH ĐĂNG KÝ", "b"), first_line=FIRST_LINE_CM, before=6, keep_next=True
    )
    grid_table(
        doc,
        ["STT", "Đoàn cơ sở", "Ngày gửi", "Số phần việc", "Tình hình"],
        [1.2, 6.0, 2.8, 2.0, 4.0],
        ["{{ u.number }}", "{{ u.name }}", "{{ u.sent }}", "{{ u.tasks }}", "{{ u.status }}"],
        loop="u in units",
    )

    para(doc, ("III. ĐỀ XUẤT, KIẾN NGHỊ", "b"), first_line=FIRST_LINE_CM, before=12, keep_next=True)
    tag(doc, "{%p for text in proposals %}")
    para(doc, "{{ text }}", first_line=FIRST_LINE_CM)
    tag(doc, "{%p endfor %}")

    _signature(doc, [])

    # Appendix: the registered tasks of each unit.
    _new_page(doc)
    para(doc, ("PHỤ LỤC", "b"), align=CENTER, size=15, after=0)
    para(
        doc,
        ("Các phần việc đăng ký xây dựng Đoàn cơ sở {{ programme_short }} năm {{ year }}", "b"),
        align=CENTER,
        after=0,
    )
    para(
        doc,
        ("(Kèm theo Báo cáo số {{ number }}-BC/{{ unit_abbr }} của Ban Thường vụ {{ unit_name }})", "i"),
        align=CENTER,
        after=12,
    )
    tag(doc, "{%p for u in appendix %}")
    para(doc, ("{{ u.number }}. {{ u.name }}", "b"), align=LEFT, before=6, keep_next=True)
    grid_table(
        doc,
        ["STT", "Nội dung", "Phần việc", "Thời gian", "Phụ trách"],
        [1.2, 1.8, 7.4, 2.6, 3.0],
        ["{{ t.number }}", "{{ t.item }}", "{{ t.what }}", "{{ t.when }}", "{{ t.who }}"],
        loop="t in u.tasks",
    )
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if not appendix %}")
    para(doc, ("Chưa có Đoàn cơ sở nào đăng ký.", "i"), align=CENTER)
    tag(doc, "{%p endif %}")

    _finish(doc, path, "Báo cáo kết quả đăng ký xây dựng Đoàn cơ sở 3 chủ động")


def build_decision(path: Path) -> None:
    """QUYẾT ĐỊNH công nhận Đoàn cơ sở "3 chủ động" (seed 004's template), with the list of the
    units recognised attached."""
    doc = _blank()
    _header(doc, "QĐ")

    para(doc, ("QUYẾT ĐỊNH", "b"), align=CENTER, size=15, before=24, after=0, keep_next=True)
    para(doc, ("V/v công nhận {{ title }}", "b"), align=CENTER, after=18, keep_next=True)
    para(doc, ("BAN THƯỜNG VỤ {{ unit_upper }}", "b"), align=CENTER, after=12, keep_next=True)
    para(
        doc,
        ("Căn cứ Chương trình công tác Đoàn và phong trào thanh thiếu nhi năm {{ year }};", "i"),
        first_line=FIRST_LINE_CM,
    )
    para(doc, ("Căn cứ {{ basis }};", "i"), first_line=FIRST_LINE_CM)
    para(
        doc,
        ("Xét kết quả kiểm tra, đánh giá mức độ hoàn thành các nội dung đăng ký của các Đoàn cơ sở,", "i"),
        first_line=FIRST_LINE_CM,
    )
    para(doc, ("QUYẾT ĐỊNH:", "b"), align=CENTER, before=6, after=12, keep_next=True)
    para(
        doc,
        ("Điều 1. ", "b"),
        "Công nhận {{ count }} Đoàn cơ sở đạt danh hiệu {{ title }} (có danh sách kèm theo).",
        first_line=FIRST_LINE_CM,
    )
    para(
        doc,
        ("Điều 2. ", "b"),
        "Văn phòng, Ủy ban Kiểm tra {{ unit_name }} và các Đoàn cơ sở có tên tại Điều 1 chịu trách "
        "nhiệm thi hành quyết định này./.",
        first_line=FIRST_LINE_CM,
    )
    _signature(doc, ["- Như Điều 2;"])

    _new_page(doc)
    para(doc, ("DANH SÁCH", "b"), align=CENTER, size=15, after=0)
    para(doc, ("Đoàn cơ sở đạt danh hiệu {{ title }}", "b"), align=CENTER, after=0)
    para(
        doc,
        ("(Kèm theo Quyết định số {{ number }}-QĐ/{{ unit_abbr }} của Ban Thường vụ {{ unit_name }})", "i"),
        align=CENTER,
        after=12,
    )
    grid_table(
        doc,
        ["STT", "Đoàn cơ sở", "Phần việc đạt / đã đăng ký"],
        [1.2, 10.8, 4.0],
        ["{{ u.number }}", "{{ u.name }}", "{{ u.rated }}"],
        loop="u in units",
        size=13,
    )

    _finish(doc, path, "Quyết định công nhận Đoàn cơ sở 3 chủ động")


def _stable_zip(data: bytes) -> bytes:
    """Rewrite the package with fixed time stamps, so the output is reproducible."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=STAMP.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


TEMPLATES = {"plan.docx": build_plan, "compiled.docx": build_compiled, "decision.docx": build_decision}


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else TEMPLATES_DIR
    for name, build in TEMPLATES.items():
        build(out_dir / name)
        print(out_dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
