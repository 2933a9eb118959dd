"""Turning what a person typed into a value, or into the reason it cannot be one.

Each parser returns `Parsed(value)` or `Parsed(error=msgid, params)`: the engine shows the error
in the user's language and asks again; nothing is stored until the value is right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from babel.numbers import NumberFormatError, parse_decimal

from chidoan.engine.words import NO_WORDS, YES_WORDS
from chidoan.i18n import N_, fold

MAX_TEXT = 4000  # a Telegram message holds 4,096 characters; longer text arrives in pieces


@dataclass(frozen=True)
class Parsed:
    value: object = None
    error: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


MAX_ID = 2**63 - 1  # the largest value of a 64-bit INTEGER column (SQLite, PostgreSQL BIGINT)


def ascii_int(text: str, max_digits: int) -> int | None:
    """The number written in `text` with ASCII digits only ("²", "③", "٣", "+1", "1_0" and " 1"
    pass `isdigit()` or `int()` but are nobody's id), at most `max_digits` long; else None."""
    if not (0 < len(text) <= max_digits and text.isascii() and text.isdigit()):
        return None
    return int(text)


def parse_id(text: str) -> int | None:
    """A database id carried by a button or typed after a command: 1 to 2**63 - 1, else None
    (23 digits would overflow SQLite's INTEGER inside the query)."""
    value = ascii_int(text, 19)
    return value if value is not None and 1 <= value <= MAX_ID else None


def has_words(text: str) -> bool:
    """True when the text has a letter or digit: emoji or punctuation alone is no answer."""
    return any(ch.isalnum() for ch in text)


def parse_text(text: str, *, min_len: int = 1, max_len: int = MAX_TEXT) -> Parsed:
    value = text.strip()
    if not value:
        return Parsed(error=N_("The answer is empty. Please type a few words."))
    if not has_words(value):
        return Parsed(error=N_("Please answer in words; emoji or symbols alone cannot be stored."))
    if len(value) < min_len:
        return Parsed(error=N_("That is too short: at least {min} characters, please."), params={"min": min_len})
    if len(value) > max_len:
        return Parsed(
            error=N_("That is too long: {count} characters, at most {max}. Please shorten it."),
            params={"count": len(value), "max": max_len},
        )
    return Parsed(value)


_SPACES_IN_NUMBER = re.compile(r"(?<=\d)[\s\u00a0\u202f](?=\d)")
# ASCII digits with the group and decimal marks of either locale, and a sign: nothing Decimal
# alone would also take ("sNaN", "Infinity", exponents, underscores, other scripts' digits).
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9.,]*", re.ASCII)
MAX_DIGITS = 15  # what a float holds exactly; far beyond any count of members


def parse_number(
    text: str, *, locale: str, integer: bool = True, minimum: float | None = 0, maximum: float | None = None
) -> Parsed:
    """Vietnamese writes 1.200 for a thousand two hundred and 1,5 for one and a half."""
    raw = _SPACES_IN_NUMBER.sub("", text.strip())
    if not raw:
        return Parsed(error=N_("Please type a number, for example 25."))
    if not _PLAIN_NUMBER.fullmatch(raw):  # "NaN", "Infinity", "1e400", "1_000", "²", "٣" are no answer
        return Parsed(
            error=N_("“{text}” is not a number. Please type digits, for example 25."),
            params={"text": text.strip()[:40]},
        )
    if sum(ch.isdigit() for ch in raw) > MAX_DIGITS:
        return Parsed(error=N_("That number is too long: at most {max} digits, please."), params={"max": MAX_DIGITS})
    try:
        number = parse_decimal(raw, locale=locale, strict=True)
    except NumberFormatError as exc:
        if exc.suggestions:
            return Parsed(
                error=N_("“{text}” is ambiguous. Did you mean {options}?"),
                params={"text": text.strip(), "options": " / ".join(exc.suggestions)},
            )
        return Parsed(
            error=N_("“{text}” is not a number. Please type digits, for example 25."),
            params={"text": text.strip()[:40]},
        )
    if integer and number != number.to_integral_value():
        return Parsed(error=N_("Please type a whole number (no decimals)."))
    if minimum is not None and number < Decimal(str(minimum)):
        return Parsed(error=N_("The number must be at least {min}."), params={"min": _plain(minimum)})
    if maximum is not None and number > Decimal(str(maximum)):
        return Parsed(error=N_("The number must be at most {max}."), params={"max": _plain(maximum)})
    return Parsed(int(number) if integer else float(number))


def _plain(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


_DATE = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})(?:\s*[/.\-]\s*(\d{2,4}))?\s*$", re.ASCII)
_TODAY = {"hom nay", "today"}
_YESTERDAY = {"hom qua", "yesterday"}


def parse_date(text: str, *, today: date, not_after: date | None = None, not_before: date | None = None) -> Parsed:
    folded = fold(text)
    if folded in _TODAY:
        value = today
    elif folded in _YESTERDAY:
        value = today - timedelta(days=1)
    else:
        match = _DATE.match(text)
        if not match:
            return Parsed(
                error=N_("Please type a date as day/month/year, for example {example}."),
                params={"example": f"15/10/{today.year}"},
            )
        day, month, year = match.groups()
        if year is None:
            return Parsed(
                error=N_("Please add the year, for example {example}."),
                params={"example": f"{int(day):02d}/{int(month):02d}/{today.year}"},
            )
        if len(year) != 4:
            return Parsed(
                error=N_("Please write the year with four digits, for example {example}."),
                params={"example": f"15/10/{today.year}"},
            )
        try:
            value = date(int(year), int(month), int(day))
        except ValueError:
            return Parsed(
                error=N_("{text} is not a date on the calendar. Please check the day and month."),
                params={"text": f"{int(day):02d}/{int(month):02d}/{year}"},
            )
    if not_after is not None and value > not_after:
        return Parsed(error=N_("The date cannot be after {limit}."), params={"limit": not_after.strftime("%d/%m/%Y")})
    if not_before is not None and value < not_before:
        return Parsed(error=N_("The date cannot be before {limit}."), params={"limit": not_before.strftime("%d/%m/%Y")})
    return Parsed(value.isoformat())


def parse_yes_no(text: str) -> Parsed:
    folded = fold(text).strip(" .!")
    if folded in YES_WORDS:
        return Parsed(True)
    if folded in NO_WORDS:
        return Parsed(False)
    return Parsed(error=N_("Please answer yes or no (or press a button)."))


def parse_choice(text: str, options: list[tuple[str, str]]) -> Parsed:
    """Options are (value, label already in the user's language). Accepts the number shown, the
    label, or the label typed without accents."""
    typed = text.strip()
    number = ascii_int(typed, 3)  # "③" or "²" is no option's number
    if number is not None and 1 <= number <= len(options):
        return Parsed(options[number - 1][0])
    folded = fold(typed)
    if folded:
        exact = [value for value, label in options if fold(label) == folded]
        if exact:
            return Parsed(exact[0])
        partial = [value for value, label in options if folded in fold(label)]
        if len(partial) == 1:
            return Parsed(partial[0])
    return Parsed(error=N_("Please choose one of the options: press a button or type its number."))


_MONTH = re.compile(r"^(?:thang|t|month)\s*(\d{1,2})(?:\s*(?:-|den|toi|to)\s*(?:thang|t)?\s*(\d{1,2}))?$", re.ASCII)
_MONTH_YEAR = re.compile(r"^(\d{1,2})\s*/\s*(\d{4})$", re.ASCII)
_QUARTER = re.compile(r"^(?:quy|q|quarter)\s*([0-9]{1,3}|[ivx]{1,4})$", re.ASCII)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_ROMAN_OUT = {1: "I", 2: "II", 3: "III", 4: "IV"}
# Phrases plans use for "when" besides a month, a quarter or a date (folded -> as written).
PERIOD_PHRASES = {
    "ca nam": "Cả năm",
    "thuong xuyen": "Thường xuyên",
    "hang thang": "Hằng tháng",
    "hang quy": "Hằng quý",
    "6 thang dau nam": "6 tháng đầu năm",
    "6 thang cuoi nam": "6 tháng cuối năm",
    "all year": "Cả năm",
    "monthly": "Hằng tháng",
}


def parse_period(text: str, *, today: date) -> Parsed:
    """When a task happens: a month ("tháng 3", "3/2027"), a range of months ("tháng 3-5"), a
    quarter ("quý 2", "quý II"), a date, or a usual phrase ("cả năm", "hằng tháng")."""
    folded = fold(text).strip(" .")
    if folded in PERIOD_PHRASES:
        return Parsed(PERIOD_PHRASES[folded])
    if match := _MONTH.match(folded):
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if not (1 <= first <= 12 and 1 <= last <= 12) or last < first:
            return Parsed(
                error=N_("There is no month {text}: months go from 1 to 12."), params={"text": text.strip()[:20]}
            )
        return Parsed(f"Tháng {first}" if first == last else f"Tháng {first} - {last}")
    if match := _MONTH_YEAR.match(folded):
        month = int(match.group(1))
        if not 1 <= month <= 12:
            return Parsed(
                error=N_("There is no month {text}: months go from 1 to 12."), params={"text": text.strip()[:20]}
            )
        return Parsed(f"Tháng {month}/{match.group(2)}")
    if match := _QUARTER.match(folded):
        raw = match.group(1)
        number = int(raw) if raw.isdigit() else _ROMAN.get(raw, 0)
        if not 1 <= number <= 4:
            return Parsed(
                error=N_("There is no quarter {text}: quarters go from 1 to 4 (I to IV)."),
                params={"text": text.strip()[:20]},
            )
        return Parsed(f"Quý {_ROMAN_OUT[number]}")
    if _DATE.match(text):
        parsed = parse_date(text, today=today)
        return Parsed(format_day(str(parsed.value))) if parsed.ok else parsed
    return Parsed(
        error=N_("Please say when: a month (“tháng 3”), a quarter (“quý II”), a date (15/03/2027) or “cả năm”.")
    )


def format_day(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")
