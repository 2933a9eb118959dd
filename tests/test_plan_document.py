"""The registration plan (“KẾ HOẠCH Đăng ký xây dựng Đoàn cơ sở “3 chủ động””) as a Word file."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from datetime import date

import pytest

docx = pytest.importorskip("docx")
pytest.importorskip("docxtpl")

from chidoan.documents.plan import (  # noqa: E402
    TEMPLATES_DIR,
    PlanArea,
    PlanDocument,
    PlanTask,
    plan_filename,
    render_plan,
)

LONG = (
    "Tổ chức rà soát, cập nhật thông tin đoàn viên trên phần mềm quản lý đoàn viên, "
    "nắm bắt tình hình thanh niên tại 6 khu phố; "
) * 40
LONG = LONG[:2991] + " KẾT-THÚC"
I11 = "Quản lý đoàn viên bằng phần mềm"
I12 = "Nắm tình hình tư tưởng đoàn viên, thanh niên"
assert len(LONG) == 3000
SPECIAL = 'Ngày hội <b>&"{{ 7*7 }}" {% if x %}x{% endif %} {_{ y }_} 🎉🇻🇳 thanh niên'


def sample_plan(**changes) -> PlanDocument:
    fields = dict(
        committee_line="BCH ĐOÀN THÀNH ĐOÀN RẠCH GIÁ",
        unit_line="BCH ĐOÀN PHƯỜNG VĨNH BẢO",
        unit_name="Đoàn phường Vĩnh Bảo",
        unit_abbr="ĐPVB",
        number="12",
        place="Vĩnh Bảo",
        date=date(2026, 10, 14),
        year=2027,
        title="Đăng ký xây dựng Đoàn cơ sở “3 chủ động” năm 2027",
        programme_short="“3 chủ động”",
        basis="Hướng dẫn số 25-HD/TĐTN-TCKT ngày 15/8/2023 của Ban Thường vụ Tỉnh đoàn về xây dựng Đoàn cơ sở “3 chủ động”",
        purpose=(
            "Cụ thể hóa Hướng dẫn của Ban Thường vụ Tỉnh đoàn, nâng cao chất lượng hoạt động của Đoàn cơ sở.\n\n"
            "Các nội dung đăng ký phải cụ thể, sát với tình hình thực tế của địa phương, có thể kiểm tra, đánh giá được."
        ),
        areas=[
            PlanArea(
                1,
                "Chủ động thực hiện công tác quản lý đoàn viên và chăm lo, nắm bắt tình hình thanh niên ở địa phương, đơn vị",
                [
                    PlanTask(
                        "1.1",
                        LONG,
                        "Quý I/2027",
                        "Phó Bí thư Trần Thị Lan",
                        "100% đoàn viên được cập nhật",
                        item_title=I11,
                    ),
                    PlanTask(
                        "1.2",
                        "Tổ chức 02 buổi đối thoại\nvới thanh niên khu phố",
                        "Tháng 3 và tháng 9/2027",
                        "Ban Thường vụ",
                        item_title=I12,
                    ),
                    PlanTask("1.1", "Kết nạp 10 đoàn viên mới", "Quý II/2027", "Ban Thường vụ", item_title=I11),
                ],
            ),
            PlanArea(
                2,
                "Chủ động xây dựng và thực hiện kế hoạch công tác",
                [
                    PlanTask(
                        "2.3",
                        SPECIAL,
                        "Tháng 3/2027",
                        "Ủy viên BCH <Nguyễn & Lê>",
                        "Sáng kiến “chi đoàn số”",
                        item_title="Đổi mới sinh hoạt chi đoàn, chuyển đổi số",
                    ),
                ],
            ),
            PlanArea(
                3,
                "Chủ động tham mưu với cấp ủy, phối hợp với chính quyền, các đoàn thể và các tổ chức liên quan.",
                [
                    PlanTask(
                        "3.3",
                        "Giới thiệu 05 đoàn viên ưu tú cho Đảng xem xét, kết nạp",
                        "Cả năm 2027",
                        "Bí thư Đoàn phường",
                        "05 đoàn viên được giới thiệu",
                    ),
                ],
            ),
        ],
        implementation=(
            "Ban Chấp hành Đoàn phường phân công đồng chí Phó Bí thư theo dõi, đôn đốc thực hiện.\n"
            "Các chi đoàn trực thuộc căn cứ kế hoạch, triển khai thực hiện và báo cáo kết quả trước ngày 15/11/2027."
        ),
        signer_name="Nguyễn Văn An",
        recipients=["BTV Thành đoàn Rạch Giá", "BCH Đoàn phường;"],
    )
    fields.update(changes)
    return PlanDocument(**fields)


def paragraphs(data: bytes) -> list[str]:
    """All paragraph texts, body and table cells, in reading order."""
    document = docx.Document(io.BytesIO(data))
    out = []
    for block in document.element.body.iter(docx.oxml.ns.qn("w:p")):
        out.append(docx.text.paragraph.Paragraph(block, document).text)
    return out


def index_of(texts: list[str], needle: str, start: int = 0) -> int:
    for i in range(start, len(texts)):
        if needle in texts[i]:
            return i
    raise AssertionError(f"{needle[:80]!r} not found after paragraph {start}")


@pytest.fixture(scope="module")
def rendered() -> bytes:
    return render_plan(sample_plan())


@pytest.fixture(scope="module")
def texts(rendered) -> list[str]:
    return paragraphs(rendered)


def test_template_ships_with_the_package():
    assert (TEMPLATES_DIR / "plan.docx").is_file()


def test_is_a_word_file(rendered):
    assert rendered[:2] == b"PK"
    with zipfile.ZipFile(io.BytesIO(rendered)) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    assert "{{" not in xml.replace("{{ 7*7 }}", "") and "{%" not in xml.replace("{% if x %}", "").replace(
        "{% endif %}", ""
    )


def test_header(texts):
    assert "BCH ĐOÀN THÀNH ĐOÀN RẠCH GIÁ" in texts
    assert "BCH ĐOÀN PHƯỜNG VĨNH BẢO" in texts
    assert "ĐOÀN TNCS HỒ CHÍ MINH" in texts
    assert "Số: 12-KH/ĐPVB" in texts
    assert "Vĩnh Bảo, ngày 14 tháng 10 năm 2026" in texts
    # The header comes before the title.
    assert index_of(texts, "ĐOÀN TNCS HỒ CHÍ MINH") < index_of(texts, "KẾ HOẠCH")


def test_missing_number_and_date_format():
    texts = paragraphs(render_plan(sample_plan(number="", date=date(2026, 2, 5))))
    assert "Số: …-KH/ĐPVB" in texts
    assert "Vĩnh Bảo, ngày 05 tháng 02 năm 2026" in texts


def test_title_intro_and_sections_in_order(texts):
    title = texts.index("KẾ HOẠCH")
    assert texts[title + 1] == "Đăng ký xây dựng Đoàn cơ sở “3 chủ động” năm 2027"
    intro = index_of(texts, "Căn cứ Hướng dẫn số 25-HD/TĐTN-TCKT")
    assert texts[intro].endswith(
        "Ban Chấp hành Đoàn phường Vĩnh Bảo đăng ký xây dựng Đoàn cơ sở “3 chủ động” năm 2027, "
        "với nội dung cụ thể như sau:"
    )
    one = texts.index("I. MỤC ĐÍCH, YÊU CẦU")
    two = texts.index("II. NỘI DUNG ĐĂNG KÝ")
    three = texts.index("III. TỔ CHỨC THỰC HIỆN")
    assert title < intro < one < two < three
    # The purpose: one paragraph per line of text, blank lines dropped.
    assert texts[one + 1].startswith("Cụ thể hóa Hướng dẫn")
    assert texts[one + 2].startswith("Các nội dung đăng ký phải cụ thể")
    assert texts[one + 3] == "II. NỘI DUNG ĐĂNG KÝ"
    assert texts[three + 1].startswith("Ban Chấp hành Đoàn phường phân công")
    assert texts[three + 2].startswith("Các chi đoàn trực thuộc")


def test_every_task_under_its_area(texts):
    two = texts.index("II. NỘI DUNG ĐĂNG KÝ")
    a1 = index_of(texts, "1. Chủ động thực hiện công tác quản lý đoàn viên", two)
    a2 = index_of(texts, "2. Chủ động xây dựng và thực hiện kế hoạch công tác", two)
    a3 = index_of(texts, "3. Chủ động tham mưu với cấp ủy", two)
    three = texts.index("III. TỔ CHỨC THỰC HIỆN")
    assert two < a1 < a2 < a3 < three
    # The heading ends with exactly one full stop, whether the user typed it or not.
    assert texts[a1].endswith("ở địa phương, đơn vị.")
    assert texts[a3].endswith("các tổ chức liên quan.")
    # Each task under its item, named by its code and title: the item once, its tasks in order.
    i11, i12 = texts.index(f"1.1. {I11}."), texts.index(f"1.2. {I12}.")
    assert a1 < i11 < index_of(texts, "- Tổ chức rà soát", a1) < texts.index("- Kết nạp 10 đoàn viên mới") < i12 < a2
    assert i12 < index_of(texts, "- Tổ chức 02 buổi đối thoại", a1) < a2
    assert sum(t.startswith("1.1.") for t in texts) == 1
    assert a2 < texts.index("2.3. Đổi mới sinh hoạt chi đoàn, chuyển đổi số.") < index_of(texts, "- Ngày hội", a2) < a3
    assert a3 < texts.index("3.3.") < index_of(texts, "- Giới thiệu 05 đoàn viên ưu tú", a3) < three  # no title given
    assert not any(t.startswith("- (") for t in texts)
    details = texts[index_of(texts, "- Tổ chức rà soát", a1) + 1]
    assert (
        details
        == "Thời gian: Quý I/2027; Phụ trách: Phó Bí thư Trần Thị Lan; Kết quả dự kiến: 100% đoàn viên được cập nhật."
    )
    # No expected result: no "Kết quả dự kiến".
    assert (
        texts[index_of(texts, "- Tổ chức 02", a1) + 1]
        == "Thời gian: Tháng 3 và tháng 9/2027; Phụ trách: Ban Thường vụ."
    )


def test_long_and_special_text_verbatim(texts):
    assert sum(LONG in t for t in texts) == 1
    task = texts[index_of(texts, "- Ngày hội")]
    assert task == "- " + SPECIAL
    assert "{{ 7*7 }}" in task and "49" not in task
    assert texts[index_of(texts, "- Ngày hội") + 1] == (
        "Thời gian: Tháng 3/2027; Phụ trách: Ủy viên BCH <Nguyễn & Lê>; Kết quả dự kiến: Sáng kiến “chi đoàn số”."
    )


def test_newlines_in_a_task_are_line_breaks(texts):
    assert "- Tổ chức 02 buổi đối thoại\nvới thanh niên khu phố" in texts


def test_signature_and_recipients(texts):
    bi_thu = texts.index("BÍ THƯ")
    assert texts.index("TM. BAN CHẤP HÀNH") + 1 == bi_thu < texts.index("Nguyễn Văn An")
    assert "KT. BÍ THƯ" not in texts and "PHÓ BÍ THƯ" not in texts
    received = texts.index("Nơi nhận:")
    assert texts[received + 1 : received + 4] == ["- BTV Thành đoàn Rạch Giá;", "- BCH Đoàn phường;", "- Lưu."]
    assert texts.index("III. TỔ CHỨC THỰC HIỆN") < received


def test_a_deputy_signs_for_the_secretary():
    texts = paragraphs(render_plan(sample_plan(signer_name="Trần Thị Lan", signed_by_deputy=True)))
    tm = texts.index("TM. BAN CHẤP HÀNH")
    assert texts[tm + 1 : tm + 3] == ["KT. BÍ THƯ", "PHÓ BÍ THƯ"]
    assert tm < texts.index("Trần Thị Lan") and "BÍ THƯ" not in texts


def test_fonts_and_page(rendered):
    document = docx.Document(io.BytesIO(rendered))
    section = document.sections[0]
    assert round(section.page_width.cm, 1) == 21.0 and round(section.page_height.cm, 1) == 29.7
    assert round(section.left_margin.cm, 1) == 3.0 and round(section.right_margin.cm, 1) == 2.0
    with zipfile.ZipFile(io.BytesIO(rendered)) as z:
        styles = z.read("word/styles.xml").decode("utf-8")
    defaults = styles[styles.index("<w:docDefaults>") : styles.index("</w:docDefaults>")]
    for slot in ("ascii", "hAnsi", "cs", "eastAsia"):
        assert f'w:{slot}="Times New Roman"' in defaults
    assert "Theme=" not in defaults and "theme=" not in defaults
    assert document.styles["Normal"].font.size.pt in (13, 14)


def test_hostile_header_fields_and_no_recipients():
    data = render_plan(
        sample_plan(
            unit_line="BCH ĐOÀN <X> & {{ Y }}",
            number="{% raw %}",
            signer_name="Lê {{ name }}\x00\x07",
            recipients=[],
            purpose="",
            implementation="Tab\there.",
        )
    )
    texts = paragraphs(data)
    assert "BCH ĐOÀN <X> & {{ Y }}" in texts
    assert "Số: {% raw %}-KH/ĐPVB" in texts
    assert "Lê {{ name }}" in texts
    received = texts.index("Nơi nhận:")
    assert texts[received + 1] == "- Lưu."
    one, two = texts.index("I. MỤC ĐÍCH, YÊU CẦU"), texts.index("II. NỘI DUNG ĐĂNG KÝ")
    assert two == one + 1
    assert "Tab\there." in texts


def test_filename_is_ascii():
    assert plan_filename("ĐPVB", 2027) == "KH-3CD-2027-DPVB.docx"
    assert plan_filename("Đoàn phường / Vĩnh Bảo?", 2027) == "KH-3CD-2027-Doan-phuong-Vinh-Bao.docx"
    assert plan_filename("", 2027) == "KH-3CD-2027.docx"
    assert plan_filename("🎉", 2027).isascii()


def test_converts_to_pdf(rendered, tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        pytest.skip("LibreOffice is not installed")
    source = tmp_path / "plan.docx"
    source.write_bytes(rendered)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = (tmp_path / "plan.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
