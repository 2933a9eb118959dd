"""Words users read: Babel catalogs in `chidoan/locales/<locale>/LC_MESSAGES/chidoan.po`.

Code marks texts with `N_()` (for extraction) and renders them with `gettext(locale, msgid)`.
The `.po` files are compiled in memory at first use, so there is no build step and no stale
`.mo` file can be shipped.
"""

from __future__ import annotations

import io
import unicodedata
from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("vi", "en")
DOMAIN = "chidoan"
LOCALE_DIR = Path(__file__).parent / "locales"


def N_(msgid: str) -> str:
    """Mark a text for extraction where it is defined; it is translated where it is shown."""
    return msgid


class Lazy(str):
    """A msgid passed as a parameter: translated in the reader's language when the text is made
    (a notice to another person is rendered in *their* language, not the sender's)."""


def catalog_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> Translations:
    with catalog_path(locale).open("rb") as fp:
        catalog = read_po(fp, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def pick_locale(code: str | None, default: str) -> str:
    """Map a platform language code ('en-US', 'vi') to a supported locale."""
    if code:
        base = code.replace("_", "-").split("-")[0].lower()
        if base in LOCALES:
            return base
    return default


def gettext(locale: str, msgid: str, **params: object) -> str:
    tr = translations(locale if locale in LOCALES else LOCALES[0])
    text = tr.gettext(msgid)
    if not params:
        return text
    return text.format(**{k: tr.gettext(v) if isinstance(v, Lazy) else v for k, v in params.items()})


def ngettext(locale: str, singular: str, plural: str, n: int, **params: object) -> str:
    text = translations(locale if locale in LOCALES else LOCALES[0]).ngettext(singular, plural, n)
    return text.format(n=n, **params)


def format_date(value: date | datetime) -> str:
    """Dates are shown dd/mm/yyyy in every locale (the convention of the documents)."""
    return value.strftime("%d/%m/%Y")


def fold(text: str) -> str:
    """Lower-case without accents: lets 'chi doan' match 'Chi đoàn' when typed on a plain keyboard."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def has_marks(text: str) -> bool:
    """Whether a letter of the text carries a mark (an accent, "ư", "ơ", "â", "đ"): what a plain
    keyboard leaves out, so text without any was most likely typed in a hurry."""
    return "đ" in text.casefold() or any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", text))
