"""Turning what a person typed into a value, or into the reason it cannot be one.

Each parser returns `Parsed(value)` or `Parsed(error=msgid, params)`: the engine shows the error
in the user's language and asks again; nothing is stored until the value is right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from babel.numbers import NumberFormatError, format_decimal, parse_decimal

from chidoan.engine.words import NO_WORDS, YES_WORDS
from chidoan.i18n import N_, fold, has_marks

MAX_TEXT = 4000  # a Telegram message holds 4,096 characters; longer text arrives in pieces


@dataclass(frozen=True)
class Parsed:
    value: object = None
    error: str | None = None
    params: dict = field(default_factory=dict)  # of the error, or of the doubt
    # A value that may well be a slip (kept as typed, unusually big): the question (msgid) asked
    # before it is stored, answered "keep" or "type again" (see Runner._doubt).
    doubt: str | None = None

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


NO_MARKS = N_("The full name “{text}” has no accent marks. Keep it exactly as typed?")


def parse_name(text: str, *, max_len: int = 120, accents: bool = False) -> Parsed:
    """A person's full name: at least two words with letters ("Nguyễn Văn A"); a family name
    alone ("Nguyễn"), an initial ("a") or "123" is not a full name. With `accents` (the name was
    asked for as written, with its marks), a name without a single mark ("Nguyen Van Binh") is
    asked about before it goes on signed documents: typed in a hurry, or really written so."""
    typed = parse_text(text, max_len=max_len)
    if not typed.ok:
        return typed
    value = " ".join(str(typed.value).split())
    words = [word for word in value.split() if any(ch.isalpha() for ch in word)]
    if len(words) < 2:
        return Parsed(
            error=N_("“{text}” is not a full name. Please type family name and given name, for example Nguyễn Văn An."),
            params={"text": value[:40]},
        )
    if accents and not has_marks(value):
        return Parsed(value, doubt=NO_MARKS, params={"text": value})
    return Parsed(value)


_SPACES_IN_NUMBER = re.compile(r"(?<=\d)[\s\u00a0\u202f](?=\d)")
# ASCII digits with the group and decimal marks of either locale, and a sign: nothing Decimal
# alone would also take ("sNaN", "Infinity", exponents, underscores, other scripts' digits).
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9.,]*", re.ASCII)
MAX_DIGITS = 15  # what a float holds exactly; far beyond any count of members
# Words around a count that people type and that change nothing: "khoảng 80", "~80", "25 đoàn
# viên", "80 người" (folded). Words that multiply ("2 trăm", "1 nghìn") are not among them.
_ABOUT = re.compile(r"^(?:khoang|tam|chung|gan|uoc|about|around|approx(?:imately)?|~|≈)\s*")
_COUNTED = re.compile(
    r"\s*(?:doan vien(?: thanh nien)?|dvtn|dv|nguoi|thanh nien|ban|dong chi|members?|people|persons?|youth)$"
)


def _bare_number(text: str) -> str:
    """The number in `text` without the words around it that do not change it, nor a full stop
    ending the sentence ("25 người.")."""
    raw = text.strip().rstrip(".!").rstrip()
    folded = fold(raw)
    about = _ABOUT.match(folded)
    counted = _COUNTED.search(folded)
    if not (about or counted):
        return raw
    # digits and marks come through fold unchanged; only the words around them are cut away
    core = folded[about.end() if about else 0 : counted.start() if counted else len(folded)].strip()
    return core if _PLAIN_NUMBER.fullmatch(_SPACES_IN_NUMBER.sub("", core)) else raw


def parse_number(
    text: str, *, locale: str, integer: bool = True, minimum: float | None = 0, maximum: float | None = None
) -> Parsed:
    """Vietnamese writes 1.200 for a thousand two hundred and 1,5 for one and a half; "khoảng 80"
    and "25 đoàn viên" are 80 and 25."""
    raw = _SPACES_IN_NUMBER.sub("", _bare_number(text))
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
        return Parsed(error=N_("The number must be at least {min}."), params={"min": format_number(minimum, locale)})
    if maximum is not None and number > Decimal(str(maximum)):
        return Parsed(error=N_("The number must be at most {max}."), params={"max": format_number(maximum, locale)})
    return Parsed(int(number) if integer else float(number))


def format_number(n: float, locale: str) -> str:
    """A number as the reader writes it: 100.000 and 1,5 in Vietnamese, 100,000 and 1.5 in English."""
    return format_decimal(n, locale=locale)


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


PERIOD_MAX = 200  # a "when" is a few words in a table cell of the plan
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_ROMAN_OUT = {1: "I", 2: "II", 3: "III", 4: "IV"}
# Phrases plans use for "when" besides months, quarters or a date (folded -> as written).
PERIOD_PHRASES = {
    "ca nam": "Cả năm",
    "trong nam": "Cả năm",
    "thuong xuyen": "Thường xuyên",
    "hang thang": "Hằng tháng",
    "hang quy": "Hằng quý",
    "6 thang dau nam": "6 tháng đầu năm",
    "6 thang cuoi nam": "6 tháng cuối năm",
    "all year": "Cả năm",
    "whole year": "Cả năm",
    "throughout the year": "Cả năm",
    "regularly": "Thường xuyên",
    "monthly": "Hằng tháng",
    "every month": "Hằng tháng",
    "quarterly": "Hằng quý",
    "every quarter": "Hằng quý",
    "first half of the year": "6 tháng đầu năm",
    "second half of the year": "6 tháng cuối năm",
}
# Folded words that open a period and add nothing: "Từ tháng 3…", "Trong năm 2027", "Vào quý II",
# "in the whole year".
_OPENING = re.compile(r"^(?:(?:tu|trong|vao|from|in|during|the)\s+)+")
# English month names ("March", "Sept."), read as "tháng 3": the plan's document is Vietnamese.
_MONTH_NAME = re.compile(
    r"\b(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
_MONTH_NUMBER = {
    name: n
    for n, name in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
# The year at the end: "…/2027", "… 2027", "… năm 2027", or alone: "2027".
_YEAR = re.compile(r"^(?:(.*?)\s*(?:/|-|\s|\bnam\s)\s*)?(\d{4})$")
# Where a range or list goes on after a year: "tháng 3/2027 - tháng 5/2027", "quý I/27 và quý II/27".
_GOES_ON = r"\s*(?:-|,|&|(?:den|toi|to|va|and)\b)"
_SHORT_YEAR = re.compile(rf"/\s*([2-9]\d)(?=\s*$|{_GOES_ON})")  # "tháng 3/27": 2027 ("tháng 10/11" is no year)
_INNER_YEAR = re.compile(rf"(?:\s*/\s*|\s+nam\s+|\s+)(\d{{4}})(?={_GOES_ON})")
# Months or quarters: a word ("tháng", "T", "quý", "Q"), then numbers joined by "-", "đến",
# ",", "và", each perhaps with the word again ("tháng 3 đến tháng 5", "quý I và quý II").
_SPAN_WORD = r"(?:thang|months?|t|quy|quarters?|q)"
_SPAN_NUMBER = r"(?:\d{1,2}|[ivx]{1,4})"
_SPAN_PART = re.compile(rf"\s*(-|,|&|den|toi|to|va|and)\s*(?:{_SPAN_WORD}\.?)?\s*({_SPAN_NUMBER})")
_SPAN = re.compile(rf"^(?P<word>{_SPAN_WORD})\.?\s*(?P<first>{_SPAN_NUMBER})(?P<rest>(?:{_SPAN_PART.pattern})*)$")
_RANGE_WORDS = {"-", "den", "toi", "to"}
_DASHES = str.maketrans({"–": "-", "—": "-", "‒": "-", "−": "-"})  # phones turn "-" into a dash
_NUMBER_ALONE = re.compile(r"^\d{1,2}$")  # what is left of "3/2027" once the year is taken
KEEP_AS_TYPED = N_("I could not read “{text}” as a month, a quarter or a date. Keep it in the plan exactly as typed?")


def parse_period(text: str, *, today: date) -> Parsed:
    """When a task happens, normalised for the plan's document: a month ("Tháng 9/2027"), months
    ("Tháng 3 - 5/2027", "Tháng 3, 4"), quarters ("Quý I", "Quý I, II"), a year ("Năm 2027"), a
    date (15/03/2027) or a usual phrase ("Cả năm", "6 tháng đầu năm"). Any other wording is
    offered to be kept as typed (a doubt, not a refusal): plans are written in many ways."""
    typed = parse_text(text, max_len=PERIOD_MAX)
    if not typed.ok:
        return typed
    if _DATE.match(text):
        parsed = parse_date(text, today=today)
        return Parsed(format_day(str(parsed.value))) if parsed.ok else parsed
    folded = _one_year(_MONTH_NAME.sub(_month, _OPENING.sub("", fold(text).translate(_DASHES).strip(" .;:"))))
    body, year = folded, None
    if match := _YEAR.match(folded):
        body, year = (match.group(1) or "").strip(), match.group(2)
    suffix = f"/{year}" if year else ""
    if body in ("", "nam", "year"):
        return Parsed(f"Năm {year}") if year else _keep_as_typed(text)
    for phrase in (body, f"{body} nam"):
        if phrase in PERIOD_PHRASES:
            return Parsed(PERIOD_PHRASES[phrase] + (f" {year}" if year else ""))
    if year and _NUMBER_ALONE.match(body):  # "9/2027"
        body = f"thang {body}"
    return _span(text, body, suffix)


def _month(match: re.Match[str]) -> str:
    return f"thang {_MONTH_NUMBER[match.group(1)[:3]]}"


def _one_year(folded: str) -> str:
    """A two-digit year made four ("/27": "/2027"); a range or list naming the same year at each
    of its ends ("quý II/2027 - quý III/2027") named it once, at its end."""
    folded = _SHORT_YEAR.sub(r"/20\1", folded)
    inner = set(_INNER_YEAR.findall(folded))
    last = _YEAR.match(folded)
    if inner and last and inner == {last.group(2)}:
        return _INNER_YEAR.sub("", folded)
    return folded


def _span(text: str, body: str, suffix: str) -> Parsed:
    """Months or quarters ("tháng 3 đến 5", "quý I và II"), `suffix` their year ("/2027")."""
    match = _SPAN.match(body)
    if match is None:
        return _keep_as_typed(text)
    quarter = match.group("word").startswith("q")  # "quý", "quarter(s)", "Q"
    joins = _SPAN_PART.findall(match.group("rest"))
    read = [_period_number(match.group("first"), quarter)] + [_period_number(n, quarter) for _, n in joins]
    numbers = [n for n in read if n is not None and 1 <= n <= (4 if quarter else 12)]
    if len(numbers) < len(read):
        error = (
            N_("There is no quarter {text}: quarters go from 1 to 4 (I to IV).")
            if quarter
            else N_("There is no month {text}: months go from 1 to 12.")
        )
        return Parsed(error=error, params={"text": text.strip()[:20]})
    shown = [_ROMAN_OUT[n] if quarter else str(n) for n in numbers]
    word = "Quý" if quarter else "Tháng"
    ranged = {join in _RANGE_WORDS for join, _ in joins}
    if not joins:
        return Parsed(f"{word} {shown[0]}{suffix}")
    if ranged == {True} and len(numbers) == 2 and numbers[0] < numbers[1]:
        return Parsed(f"{word} {shown[0]} - {shown[1]}{suffix}")
    if ranged == {False} and len(set(numbers)) == len(numbers):
        return Parsed(f"{word} {', '.join(shown)}{suffix}")
    return _keep_as_typed(text)  # "tháng 11 - 2" across the new year, "quý I - II, IV": as written


def _period_number(raw: str, quarter: bool) -> int | None:
    """A month's or quarter's number; Roman numerals only for quarters."""
    if raw.isdigit():
        return int(raw)
    return _ROMAN.get(raw) if quarter else None


def _keep_as_typed(text: str) -> Parsed:
    value = " ".join(text.split())
    return Parsed(value, doubt=KEEP_AS_TYPED, params={"text": value})


def period_years(period: str) -> set[int]:
    """The years a period names ("Quý I/2026", "15/03/2026", "Năm 2027"); none for "Tháng 3"."""
    return {int(y) for y in re.findall(r"(?<!\d)(\d{4})(?!\d)", period)}


def format_day(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")
