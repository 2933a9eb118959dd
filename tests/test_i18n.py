"""Catalogs: every text in the code is translated in every locale, and the catalogs compile."""

import io
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

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
