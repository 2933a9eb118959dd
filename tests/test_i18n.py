"""Catalogs: every text in the code is translated in every locale, and the catalogs compile."""

import io
import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import chidoan
from chidoan.i18n import LOCALES, catalog_path, gettext

ROOT = Path(__file__).resolve().parent.parent / "chidoan"
KEYWORDS = {"N_": None, "say": (1,), "t": (1,)}


def code_msgids() -> set[str]:
    found = extract_from_dir(str(ROOT), method_map=[("**.py", "python")], keywords=KEYWORDS)
    return {message for _file, _line, message, _comments, _context in found if isinstance(message, str)}


def fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_is_complete_and_compiles(locale):
    with catalog_path(locale).open("rb") as fp:
        catalog = read_po(fp, locale=locale)
    write_mo(io.BytesIO(), catalog)  # compiles
    translated = {m.id: m.string for m in catalog if m.id}
    missing = sorted(code_msgids() - {k for k, v in translated.items() if v})
    assert not missing, f"{locale}: {len(missing)} texts without a translation, e.g. {missing[:5]}"
    for msgid, text in translated.items():
        assert fields(text) == fields(msgid), f"{locale}: placeholders differ in {msgid!r}"
        assert not any(m.fuzzy for m in catalog if m.id == msgid), f"{locale}: fuzzy {msgid!r}"


def test_vietnamese_is_the_default_and_differs_from_english():
    assert gettext("vi", "Commands you can use:") != "Commands you can use:"
    assert gettext("en", "Commands you can use:") == "Commands you can use:"


def translations(locale: str) -> dict[str, str]:
    with catalog_path(locale).open("rb") as fp:
        return {m.id: m.string for m in read_po(fp, locale=locale) if m.id}


# ../shared/WORDING.md: the user is "đồng chí" or no pronoun; leaders "cam kết", they do not
# "hứa"; there is no district level since 01/7/2025 (the one label that names it says so), and
# no "thị trấn" any more.
FORMER_DISTRICT_LEVEL = "Cấp huyện (trước 01/7/2025)"
AVOIDED_VI = {
    "bạn": re.compile(r"\bbạn\b"),
    "hứa": re.compile(r"hứa"),
    "cấp huyện": re.compile(r"cấp huyện"),
    "thị trấn": re.compile(r"thị trấn"),
}


def test_vietnamese_texts_follow_the_wording_guide():
    found = [
        (word, text)
        for text in translations("vi").values()
        for word, pattern in AVOIDED_VI.items()
        if pattern.search(text.replace(FORMER_DISTRICT_LEVEL, "").casefold())
    ]
    assert not found, f"{len(found)} texts use words the wording guide avoids, e.g. {found[:5]}"


def test_the_web_chat_page_follows_the_wording_guide_too():
    """The page's own few notes (not connected, not stored) are written in it, not in the catalogs."""
    page = (Path(chidoan.__file__).parent / "web" / "static" / "index.html").read_text(encoding="utf-8")
    found = [word for word, pattern in AVOIDED_VI.items() if pattern.search(page.casefold())]
    assert found == []


# The English texts say "the union above", not "the district": the reviewing level is the
# province in most places now. Only the former district level of a dialogue names one.
REAL_DISTRICTS = {"District level (before 1/7/2025)"}


def test_english_texts_do_not_assume_a_district():
    found = [text for text in translations("en").values() if "district" in text.casefold()]
    assert set(found) <= REAL_DISTRICTS, f"English texts that say “district”: {sorted(set(found) - REAL_DISTRICTS)}"
