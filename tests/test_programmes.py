"""Programmes as data: the shipped YAML files, the Programme model and the loader's problems
(with the line numbers a province officer needs)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pydantic
import pytest

from chidoan.programmes import (
    PROGRAMMES_DIR,
    Programme,
    ProgrammeError,
    load_programme,
    load_programmes,
    programme_for,
)
from chidoan.storage.models import UnitKind

THREE = PROGRAMMES_DIR / "three_proactives_2023_2027.yaml"
FOUR = PROGRAMMES_DIR / "four_proactives_2008.yaml"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
SEED_004 = SEEDS / "004_1e7e8600549a68c3.txt"
SEED_000 = SEEDS / "000_a3e112f27880937a.txt"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
def three() -> Programme:
    return load_programme(THREE)


@pytest.fixture(scope="module")
def four() -> Programme:
    return load_programme(FOUR)


@pytest.fixture(scope="module")
def source() -> str:
    return THREE.read_text(encoding="utf-8")


def seed_paragraphs(path: Path, start: str, end: str) -> list[str]:
    """The numbered paragraphs of a seed section, a paragraph broken over lines joined again."""
    section = path.read_text(encoding="utf-8").split(start, 1)[1].split(end, 1)[0]
    joined: list[str] = []
    for block in (b.strip() for b in re.split(r"\n\s*\n", section) if b.strip()):
        if re.match(r"^\d+(\.\d+)?\. ", block) or not joined:
            joined.append(block)
        else:
            joined[-1] += " " + block
    return [" ".join(p.split()) for p in joined]


def line_of(text: str, needle: str) -> int:
    """1-based line of the only occurrence of `needle`."""
    assert text.count(needle) == 1, needle
    return text[: text.index(needle)].count("\n") + 1


def problems_of(tmp_path: Path, text: str, name: str = "broken.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProgrammeError) as caught:
        load_programme(path)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


# ---- the shipped files -------------------------------------------------------------------------


def test_both_shipped_files_load():
    programmes = load_programmes()
    assert set(programmes) == {"three_proactives_2023_2027", "four_proactives_2008"}
    assert load_programmes(PROGRAMMES_DIR) == programmes


def test_three_proactives_structure(three):
    assert three.code == "three_proactives_2023_2027"
    assert three.short_name == "“3 chủ động”"
    assert three.name == "Xây dựng Đoàn cơ sở “3 chủ động” giai đoạn 2023 - 2027"
    assert "18-HD/TWĐTN-BTC" in three.source and "24/5/2023" in three.source
    assert (three.first_year, three.last_year) == (2024, 2027)
    assert three.registering_kinds == [UnitKind.base_unit]
    assert [area.number for area in three.areas] == [1, 2, 3]
    codes = [item.code for area in three.areas for item in area.items]
    assert codes == [f"{a}.{i}" for a in (1, 2, 3) for i in range(1, 6)]
    for area in three.areas:
        assert 0 < len(area.short) <= 48
        for item in area.items:
            assert 0 < len(item.short) <= 48
            assert "\n" not in item.text and "  " not in item.text
    assert three.item("1.1").short == "Quản lý đoàn viên bằng phần mềm"
    assert (
        three.area(1).title
        == "Chủ động thực hiện công tác quản lý đoàn viên và chăm lo, nắm bắt tình hình thanh niên ở địa phương, đơn vị"
    )
    assert three.area(4) is None and three.item("3.6") is None and three.item("x") is None
    assert three.document.template == "plan.docx"
    assert three.document.title.format(year=2027) == "Đăng ký xây dựng Đoàn cơ sở “3 chủ động” năm 2027"
    assert three.document.title_for(2025).endswith("năm 2025")
    assert (three.expectations.meetings_per_year, three.expectations.dialogues_per_year) == (12, 1)
    for text in (three.defaults.purpose, three.defaults.implementation):
        assert 2 <= text.count(". ") + 1 <= 4 and text.endswith(".")


def test_three_proactives_texts_are_the_seed_verbatim(three):
    if not SEED_004.exists():
        pytest.skip(f"{SEED_004} is not beside the repository")
    paragraphs = seed_paragraphs(SEED_004, "II. NỘI DUNG, GIẢI PHÁP", "III. QUY TRÌNH THỰC HIỆN")
    items = {m[1]: m[2] for p in paragraphs if (m := re.match(r"^(\d+\.\d+)\. (.*)$", p))}
    titles = {int(m[1]): m[2] for p in paragraphs if (m := re.match(r"^(\d+)\. (.*)$", p))}
    assert sorted(items) == [item.code for area in three.areas for item in area.items]
    for area in three.areas:
        assert area.title == titles[area.number]
        for item in area.items:
            assert item.text == items[item.code], item.code
    # the two places the seed breaks a line inside a sentence
    assert "đoàn viên, thanh thiếu nhi có hoàn cảnh khó khăn" in three.item("1.4").text
    assert three.item("2.4").text.startswith(
        "Chủ động xây dựng và phát triển tổ chức, đặc biệt trong việc thực hiện chủ trương 1+1"
    )


def test_three_proactives_deadlines_match_the_seed(three):
    assert three.registration_deadline.model_dump(exclude={"description"}) == {
        "month": 10,
        "day": 15,
        "year_offset": -1,
    }
    assert three.district_report_deadline.model_dump(exclude={"description"}) == {
        "month": 10,
        "day": 25,
        "year_offset": -1,
    }
    assert three.district_report_due(2027) == date(2026, 10, 25)
    if SEED_004.exists():
        seed = SEED_004.read_text(encoding="utf-8")
        assert "xong trước *ngày 15/10 của năm trước*" in seed
        assert "*trước ngày 25/10 hằng năm*" in seed


def test_four_proactives_is_a_file_only(four):
    assert four.code == "four_proactives_2008"
    assert four.short_name == "“4 chủ động”"
    assert (four.first_year, four.last_year) == (2009, 2012)
    assert four.registering_kinds == [UnitKind.base_unit]
    assert [area.number for area in four.areas] == [1, 2, 3, 4]
    assert four.document.title.format(year=2010) == "Đăng ký xây dựng tổ chức cơ sở Đoàn “4 chủ động” năm 2010"
    assert four.registration_due(2010) == date(2009, 10, 15)
    assert four.is_on_time(2010, datetime(2009, 10, 14, 12, tzinfo=TZ), TZ)
    if SEED_000.exists():
        seed = " ".join(SEED_000.read_text(encoding="utf-8").split())
        named = seed.split("cơ sở Đoàn 4 chủ động: ", 1)[1].split(". ", 1)[0]
        assert [a.title.lower() for a in four.areas] == [part.strip().lower() for part in named.split(";")]


def test_programme_models_are_frozen(three):
    with pytest.raises(pydantic.ValidationError):
        three.first_year = 2030
    with pytest.raises(pydantic.ValidationError):
        three.areas[0].items[0].short = "x"


# ---- years --------------------------------------------------------------------------------------


def test_covers_and_registration_due(three):
    assert [y for y in range(2022, 2030) if three.covers(y)] == [2024, 2025, 2026, 2027]
    assert three.registration_due(2027) == date(2026, 10, 15)
    assert three.registration_due(2024) == date(2023, 10, 15)


def test_is_on_time_before_midnight_of_the_fifteenth_local_time(three):
    assert three.is_on_time(2027, datetime(2026, 10, 14, 23, 59, 59, tzinfo=TZ), TZ)
    assert three.is_on_time(2027, datetime(2026, 10, 14, 23, 59, tzinfo=TZ), TZ)
    assert not three.is_on_time(2027, datetime(2026, 10, 15, 0, 0, tzinfo=TZ), TZ)
    assert three.is_on_time(2027, datetime(2026, 1, 5, 9, tzinfo=TZ), TZ)
    assert not three.is_on_time(2027, datetime(2026, 12, 1, 9, tzinfo=TZ), TZ)
    # 17:30 UTC on 14/10 is 00:30 on 15/10 in Hồ Chí Minh City: late, though still 14/10 in UTC
    assert not three.is_on_time(2027, datetime(2026, 10, 14, 17, 30, tzinfo=UTC), TZ)
    # 16:59 UTC on 14/10 is 23:59 local: on time
    assert three.is_on_time(2027, datetime(2026, 10, 14, 16, 59, tzinfo=UTC), TZ)
    with pytest.raises(ValueError):
        three.is_on_time(2027, datetime(2026, 10, 14, 12, 0), TZ)


def test_plan_years_and_default(three):
    assert three.plan_years(date(2023, 6, 1)) == [2024, 2025, 2026, 2027]
    assert three.plan_years(date(2026, 3, 1)) == [2026, 2027]
    assert three.plan_years(date(2027, 11, 1)) == [2027]
    assert three.plan_years(date(2028, 1, 1)) == []
    assert three.default_plan_year(date(2026, 3, 1)) == 2027
    assert three.default_plan_year(date(2027, 3, 1)) == 2027
    assert three.default_plan_year(date(2022, 3, 1)) == 2024
    assert three.default_plan_year(date(2028, 3, 1)) is None


def test_programme_for():
    programmes = load_programmes()
    assert programme_for(programmes, 2025, UnitKind.base_unit).code == "three_proactives_2023_2027"
    assert programme_for(programmes, 2027, "base_unit").code == "three_proactives_2023_2027"
    assert programme_for(programmes, 2010, UnitKind.base_unit).code == "four_proactives_2008"
    assert programme_for(programmes, 2025, UnitKind.branch) is None
    assert programme_for(programmes, 2023, UnitKind.base_unit) is None
    assert programme_for(programmes, 2028, UnitKind.base_unit) is None
    assert programme_for({}, 2025, UnitKind.base_unit) is None


# ---- broken files: every problem names its line and field ---------------------------------------


def test_wrong_type_names_line_and_field(tmp_path, source):
    text = source.replace("first_year: 2024", "first_year: hai nghìn")
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(
        f"broken.yaml, line {line_of(text, 'first_year: hai')}: first_year: Input should be a valid integer"
    )
    assert "hai nghìn" in problems[0]


def test_unquoted_item_code_is_refused_with_a_hint(tmp_path, source):
    text = source.replace('code: "2.3"', "code: 2.3")
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith(
        f"broken.yaml, line {line_of(text, 'code: 2.3')}: areas → 2 → items → 3 → code: Input should be a valid string"
    )
    assert "quotes" in problem


def test_unknown_key_is_an_error(tmp_path, source):
    text = source.replace("  dialogues_per_year: 1\n", "  dialogues_per_year: 1\n  dialogs_per_year: 2\n")
    text = text.replace(
        "        short: Huy động nguồn lực xã hội\n",
        "        short: Huy động nguồn lực xã hội\n        shrot: Nguồn lực\n",
    )
    problems = problems_of(tmp_path, text)
    assert problems == [
        f"broken.yaml, line {line_of(text, 'dialogs_per_year')}: expectations → dialogs_per_year: unknown key (a typo?); Extra inputs are not permitted",
        f"broken.yaml, line {line_of(text, 'shrot')}: areas → 3 → items → 5 → shrot: unknown key (a typo?); Extra inputs are not permitted",
    ]


def test_bad_item_code(tmp_path, source):
    text = source.replace('code: "1.2"', 'code: "2.7"')
    line = line_of(text, 'code: "2.7"')
    assert problems_of(tmp_path, text) == [
        f'broken.yaml, line {line}: areas → 1 → items → 2 → code: "2.7" does not start with its area number 1'
    ]


def test_an_item_code_with_a_superscript_digit_is_a_problem_not_a_crash(tmp_path, source):
    text = source.replace('code: "1.2"', 'code: "1.²"')
    line = line_of(text, 'code: "1.²"')
    assert problems_of(tmp_path, text)[0].startswith(
        f'broken.yaml, line {line}: areas → 1 → items → 2 → code: "1.²" should be'
    )


def test_duplicate_and_unordered_item_codes(tmp_path, source):
    text = source.replace('code: "2.3"', 'code: "2.2"').replace('code: "3.2"', 'code: "3.9"')
    problems = problems_of(tmp_path, text)
    second = text[: text.index('code: "2.2"', text.index('code: "2.2"') + 1)].count("\n") + 1
    third = line_of(text, 'code: "3.3"')
    assert problems == [
        f'broken.yaml, line {second}: areas → 2 → items → 3 → code: "2.2" is used twice',
        f'broken.yaml, line {third}: areas → 3 → items → 3 → code: "3.3" is out of order: it comes after 3.9',
    ]


def test_missing_area(tmp_path, source):
    text = source[: source.index("  - number: 2")] + source[source.index("  - number: 3") :]
    assert problems_of(tmp_path, text) == [
        f"broken.yaml, line {line_of(text, '  - number: 3')}: areas → 2 → number: is 3 but should be 2: areas are numbered 1, 2, 3… in order"
    ]


def test_missing_field_points_at_its_parent(tmp_path, source):
    block = "        short: Quản lý đoàn viên bằng phần mềm\n"
    text = source.replace(block, "")
    (problem,) = problems_of(tmp_path, text)
    line = line_of(text, '- code: "1.1"')
    assert problem == f"broken.yaml, line {line}: areas → 1 → items → 1 → short: Field required"


def test_yaml_syntax_error_gives_its_line(tmp_path, source):
    text = source.replace("short: Huy động nguồn lực xã hội", "short: Huy động: nguồn lực")
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith(
        f"broken.yaml, line {line_of(text, 'Huy động: nguồn lực')}: YAML syntax error: mapping values are not allowed here"
    )
    text = source.replace("  month: 10\n  day: 15\n", "  month: 10\n\tday: 15\n")
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith(f"broken.yaml, line {line_of(text, chr(9) + 'day: 15')}: YAML syntax error")
    assert "Tab" in problem


def test_first_year_after_last_year(tmp_path, source):
    text = source.replace("last_year: 2027", "last_year: 2022")
    assert problems_of(tmp_path, text) == [
        f"broken.yaml, line {line_of(text, 'last_year: 2022')}: last_year: 2022 is before first_year 2024"
    ]


def test_first_year_check_survives_other_problems(tmp_path, source):
    text = source.replace("last_year: 2027", "last_year: 2022").replace('code: "1.2"', 'code: "2.7"')
    problems = problems_of(tmp_path, text)
    assert [int(re.match(r"broken\.yaml, line (\d+):", p)[1]) for p in problems] == [
        line_of(text, "last_year: 2022"),
        line_of(text, 'code: "2.7"'),
    ]


def test_deadline_must_be_a_real_date_and_title_needs_year(tmp_path, source):
    text = source.replace("  month: 10\n  day: 25\n", "  month: 2\n  day: 30\n").replace("năm {year}'", "năm {nam}'")
    assert problems_of(tmp_path, text) == [
        f"broken.yaml, line {line_of(text, 'day: 30')}: district_report_deadline → day: 30/2 is not a date that exists every year",
        f'broken.yaml, line {line_of(text, "năm {nam}")}: document → title: must contain "{{year}}" where the year goes',
    ]


def test_other_field_constraints(tmp_path, source):
    text = (
        source.replace("code: three_proactives_2023_2027", "code: Three-Proactives")
        .replace("registering_kinds: [base_unit]", "registering_kinds: [base_units]")
        .replace("short: Quản lý đoàn viên bằng phần mềm", "short: " + "Quản lý đoàn viên " * 4)
    )
    problems = problems_of(tmp_path, text)
    assert [p.split(": ", 2)[1] for p in problems] == ["code", "registering_kinds → 1", "areas → 1 → items → 1 → short"]
    assert "at most 48 characters" in problems[2]


def test_duplicate_key_is_an_error(tmp_path, source):
    text = source.replace("last_year: 2027\n", "last_year: 2027\nfirst_year: 2025\n")
    assert problems_of(tmp_path, text) == [
        f"broken.yaml, line {line_of(text, 'first_year: 2025')}: first_year: this key is written twice"
    ]


@pytest.mark.parametrize("text", ["", "- code: x\n", "just words\n"])
def test_not_a_mapping(tmp_path, text):
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith("broken.yaml, line 1: the file must be")


# ---- a directory of files ----------------------------------------------------------------------


def test_load_programmes_lists_the_bad_files_problems(tmp_path, source):
    (tmp_path / "good.yaml").write_text(source, encoding="utf-8")
    bad = source.replace("code: three_proactives_2023_2027", "code: other").replace("first_year: 2024", "first_year: x")
    bad = bad.replace('code: "3.4"', 'code: "1.9"')
    (tmp_path / "bad.yaml").write_text(bad, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a programme", encoding="utf-8")
    with pytest.raises(ProgrammeError) as caught:
        load_programmes(tmp_path)
    problems = caught.value.problems
    assert len(problems) == 2
    assert problems[0].startswith(f"bad.yaml, line {line_of(bad, 'first_year: x')}: first_year:")
    line = line_of(bad, 'code: "1.9"')
    assert problems[1].startswith(f'bad.yaml, line {line}: areas → 3 → items → 4 → code: "1.9"')
    assert not any(p.startswith("good.yaml") for p in problems)
    (tmp_path / "bad.yaml").unlink()
    assert list(load_programmes(tmp_path)) == ["three_proactives_2023_2027"]


def test_load_programmes_refuses_clashing_programmes(tmp_path, source):
    (tmp_path / "a.yaml").write_text(source, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(source, encoding="utf-8")
    (tmp_path / "c.yaml").write_text(
        source.replace("code: three_proactives_2023_2027", "code: copy")
        .replace("first_year: 2024", "first_year: 2027")
        .replace("last_year: 2027", "last_year: 2030"),
        encoding="utf-8",
    )
    with pytest.raises(ProgrammeError) as caught:
        load_programmes(tmp_path)
    assert caught.value.problems == [
        "b.yaml: code 'three_proactives_2023_2027' is already used by a.yaml",
        "c.yaml: plan years 2027–2027 are also covered by a.yaml for base_unit: one programme per year and unit kind",
    ]


def test_load_programmes_needs_files(tmp_path):
    with pytest.raises(ProgrammeError, match="no programme files"):
        load_programmes(tmp_path)
    with pytest.raises(ProgrammeError, match="no such directory"):
        load_programmes(tmp_path / "missing")
