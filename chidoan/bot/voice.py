"""The `chidoan` command's words: everything it prints for the operator is in one language, from
the bot's own catalogs (English msgids). Vietnamese by default; English with `--lang en`, or when
the locale (LC_ALL, LC_MESSAGES, LANG, the first one set) is an English one. Log lines stay in
English: they are for developers."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

from chidoan.i18n import LOCALES, gettext

DEFAULT = "vi"
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")  # POSIX order: the first one set decides


class UnknownLanguage(ValueError):
    pass


def command_language(argv: list[str], environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """The language asked for, and the arguments without `--lang X` / `--lang=X` (accepted
    anywhere on the line, before or after the command's name)."""
    rest, asked, pending = [], None, False
    for arg in argv:
        if pending:
            asked, pending = arg, False
        elif arg == "--lang":
            pending = True
        elif arg.startswith("--lang="):
            asked = arg.partition("=")[2]
        else:
            rest.append(arg)
    if pending:
        raise UnknownLanguage("")
    if asked is not None:
        language = asked.strip().lower().replace("_", "-").split("-")[0]
        if language not in LOCALES:
            raise UnknownLanguage(asked)
        return language, rest
    return from_locale(environ), rest


def from_locale(environ: Mapping[str, str]) -> str:
    for name in LOCALE_VARIABLES:
        if value := environ.get(name):
            return "en" if value.lower().startswith("en") else DEFAULT
    return DEFAULT


class Voice:
    """`say` prints a msgid in the command's language (to stderr with `err=True`), `t` returns it."""

    def __init__(self, locale: str = DEFAULT):
        self.locale = locale

    def t(self, msgid: str, **params: object) -> str:
        return gettext(self.locale, msgid, **params)

    def say(self, msgid: str, err: bool = False, **params: object) -> None:
        print(self.t(msgid, **params), file=sys.stderr if err else sys.stdout)


class LoggedVoice(Voice):
    """Says it as a log line instead (CHIDOAN_LOG_FORMAT=json: every line on stderr is JSON)."""

    def say(self, msgid: str, err: bool = False, **params: object) -> None:
        logging.getLogger("chidoan").info(self.t(msgid, **params))
