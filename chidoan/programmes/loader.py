"""Programmes as data: a yearly registration programme ("3 chủ động", …) described by a YAML
file that a province can edit without touching code.

A file is read with PyYAML's safe loader while keeping the node tree, validated with frozen
pydantic models, and every problem is reported with the line of the YAML file it comes from:

    three_proactives_2023_2027.yaml, line 14: areas → 1 → items → 2 → code: "2.7" does not start with its area number 1

List positions in those paths count from 1 (the first area is "areas → 1"), as a province
officer reading the file would count them. Unknown keys are errors, so that a typo in a
province's file is not silently ignored.

Years: a programme covers PLAN years. A plan for year Y is registered before 15/10 of Y-1, so
deadlines carry a `year_offset` relative to the plan year (-1 = the year before).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chidoan.storage.models import UnitKind

PROGRAMMES_DIR = Path(__file__).resolve().parent

SHORT_MAX = 48  # a button label
_CHECK = "programme_check"  # the pydantic error type of the cross-field checks below


class ProgrammeError(Exception):
    """A programme file (or a directory of them) is wrong; `problems` lists every problem, one
    line each, with the file name and line number where known."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)


def _checks_failed(problems: list[tuple[tuple[str | int, ...], str]]) -> PydanticCustomError:
    """One pydantic error carrying several cross-field problems, each with its path relative to
    the model that found it; the loader splits them again and gives each its own line."""
    message = "; ".join(f"{_path_text(path)}: {text}" if path else text for path, text in problems)
    return PydanticCustomError(_CHECK, "{message}", {"message": message, "problems": problems})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Item(_Frozen):
    """One item an area's registration may contain, e.g. 1.1."""

    code: str  # checked by its Area: "<area number>.<n>"
    text: str = Field(min_length=1)
    short: str = Field(min_length=1, max_length=SHORT_MAX)


class Area(_Frozen):
    """One of the "chủ động" areas, with its items."""

    number: int = Field(ge=1)
    title: str = Field(min_length=1)
    short: str = Field(min_length=1, max_length=SHORT_MAX)
    items: list[Item] = Field(min_length=1)

    @model_validator(mode="after")
    def _item_codes(self) -> Self:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        prefix = f"{self.number}."
        previous = 0
        seen: set[str] = set()
        for index, item in enumerate(self.items):
            path = ("items", index, "code")
            if not item.code.startswith(prefix):
                problems.append((path, f'"{item.code}" does not start with its area number {self.number}'))
                continue
            rest = item.code[len(prefix) :]
            if not (rest.isascii() and rest.isdecimal()) or int(rest) < 1:  # "²".isdigit(), yet no int
                problems.append(
                    (
                        path,
                        f'"{item.code}" should be "{self.number}." followed by a number, e.g. "{self.number}.{previous + 1}"',
                    )
                )
                continue
            if item.code in seen:
                problems.append((path, f'"{item.code}" is used twice'))
            elif int(rest) <= previous:
                problems.append((path, f'"{item.code}" is out of order: it comes after {self.number}.{previous}'))
            seen.add(item.code)
            previous = int(rest)
        if problems:
            raise _checks_failed(problems)
        return self

    def item(self, code: str) -> Item | None:
        return next((item for item in self.items if item.code == code), None)


class DayOfYear(_Frozen):
    """A day that recurs each year (the day a yearly report is due before)."""

    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)

    @model_validator(mode="after")
    def _real_date(self) -> Self:
        try:
            date(2001, self.month, self.day)
        except ValueError:
            raise _checks_failed(
                [(("day",), f"{self.day}/{self.month} is not a date that exists every year")]
            ) from None
        return self


class Deadline(DayOfYear):
    """A yearly deadline: day/month of the plan year + `year_offset` (-1 = the year before)."""

    year_offset: int = Field(ge=-5, le=5)
    description: str = Field(min_length=1)

    def due(self, plan_year: int) -> date:
        """The deadline day for plan year `plan_year`."""
        return date(plan_year + self.year_offset, self.month, self.day)


class DocumentSpec(_Frozen):
    template: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    title: str = Field(min_length=1)

    @model_validator(mode="after")
    def _title(self) -> Self:
        if "{year}" not in self.title:
            raise _checks_failed([(("title",), 'must contain "{year}" where the year goes')])
        try:
            self.title.format(year=2000)
        except (KeyError, IndexError, ValueError):
            raise _checks_failed([(("title",), 'may contain no braces other than "{year}"')]) from None
        return self

    def title_for(self, year: int) -> str:
        return self.title.format(year=year)


class Defaults(_Frozen):
    """Suggested texts for the sections of a base unit's plan that are not per-area."""

    purpose: str = Field(min_length=1)  # I. MỤC ĐÍCH, YÊU CẦU
    implementation: str = Field(min_length=1)  # III. TỔ CHỨC THỰC HIỆN


class Expectations(_Frozen):
    """What later reports expect of a unit each year, and when they are due: a branch's meeting
    of month M is reported before day `meeting_report_before_day` of month M+1 (6: by the 5th),
    a base unit's dialogue of year Y before `dialogue_due` of Y."""

    meetings_per_year: int = Field(default=12, ge=0, le=366)
    dialogues_per_year: int = Field(default=1, ge=0, le=366)
    meeting_report_before_day: int = Field(default=6, ge=2, le=28)
    dialogue_due: DayOfYear = DayOfYear(month=12, day=15)


class Recognition(_Frozen):
    """How the year-end rating proposes a unit's result: the unit is recognised (passed, "đạt
    3 chủ động") when at least `min_passed_share` of its registered tasks were rated passed
    (1.0: every one, as seed 004's step 3 reads: each registered content is rated passed or not,
    and the unit that carried out what it registered is recognised). The reviewer confirms the
    proposal or overrides it with a note."""

    min_passed_share: float = Field(default=1.0, gt=0, le=1)

    def proposes(self, passed: int, rated: int) -> bool:
        """Whether `passed` of `rated` tasks make the unit recognised."""
        return rated > 0 and passed >= self.min_passed_share * rated - 1e-9


class Programme(_Frozen):
    code: str = Field(pattern=r"^[a-z0-9_]+$", max_length=32)  # in buttons, within Telegram's 64 bytes
    name: str = Field(min_length=1)
    short_name: str = Field(min_length=1, max_length=SHORT_MAX)
    source: str = Field(min_length=1)
    first_year: int = Field(ge=1900, le=2200)
    last_year: int = Field(ge=1900, le=2200)
    registering_kinds: list[UnitKind] = Field(min_length=1)
    areas: list[Area] = Field(min_length=1)
    registration_deadline: Deadline
    # The reviewing unit's compiled report to the level above (seed 004 step 2); a programme
    # without one asks for no such report.
    district_report_deadline: Deadline | None = None
    document: DocumentSpec
    defaults: Defaults
    expectations: Expectations = Expectations()
    recognition: Recognition = Recognition()

    @field_validator("last_year")
    @classmethod
    def _years(cls, last_year: int, info: ValidationInfo) -> int:
        # A field validator, not the model one below: it runs even when an area is wrong.
        first_year = info.data.get("first_year")
        if first_year is not None and first_year > last_year:
            raise _checks_failed([((), f"{last_year} is before first_year {first_year}")])
        return last_year

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for index, area in enumerate(self.areas):
            if area.number != index + 1:
                problems.append(
                    (
                        ("areas", index, "number"),
                        f"is {area.number} but should be {index + 1}: areas are numbered 1, 2, 3… in order",
                    )
                )
        if len(set(self.registering_kinds)) != len(self.registering_kinds):
            problems.append((("registering_kinds",), "lists a kind twice"))
        if problems:
            raise _checks_failed(problems)
        return self

    # ---- years ---------------------------------------------------------------------------

    def covers(self, year: int) -> bool:
        """Whether plan year `year` is one of this programme's."""
        return self.first_year <= year <= self.last_year

    def registration_due(self, year: int) -> date:
        """The deadline DAY of the registration of the plan for `year` (2026-10-15 for 2027):
        the plan must be registered BEFORE this day (see `is_on_time`)."""
        return self.registration_deadline.due(year)

    def district_report_due(self, year: int) -> date | None:
        """The day before which the reviewing unit reports the registrations for plan year `year`
        to the level above; None when the programme asks for no such report."""
        return self.district_report_deadline.due(year) if self.district_report_deadline else None

    def is_on_time(self, year: int, submitted_at: datetime, tz: tzinfo) -> bool:
        """Whether a plan for `year` submitted at `submitted_at` (an aware datetime) is on time.

        DECISION: the guideline says "trước ngày 15/10", i.e. before 15/10. A submission is on
        time if, in local time `tz`, it happens before 00:00 of the deadline day: 14/10 23:59:59
        is on time, 15/10 00:00:00 is late. The local date is what counts, not the UTC one.
        """
        if submitted_at.tzinfo is None or submitted_at.utcoffset() is None:
            raise ValueError("submitted_at must be an aware datetime")
        return submitted_at.astimezone(tz).date() < self.registration_due(year)

    def plan_years(self, today: date) -> list[int]:
        """The covered plan years a unit can still register for: this year and later, in
        ascending order. Offer `default_plan_year(today)` first."""
        return list(range(max(self.first_year, today.year), self.last_year + 1))

    def default_plan_year(self, today: date) -> int | None:
        """Next year if covered, else the first year still open, else None."""
        years = self.plan_years(today)
        if today.year + 1 in years:
            return today.year + 1
        return years[0] if years else None

    # ---- lookups -------------------------------------------------------------------------

    def area(self, number: int) -> Area | None:
        return next((area for area in self.areas if area.number == number), None)

    def item(self, code: str) -> Item | None:
        for area in self.areas:
            found = area.item(code)
            if found is not None:
                return found
        return None


# ---- loading ---------------------------------------------------------------------------------


def _path_text(loc: Iterable[str | int]) -> str:
    """('areas', 0, 'items', 1, 'code') -> 'areas → 1 → items → 2 → code' (positions from 1)."""
    return " → ".join(str(part + 1) if isinstance(part, int) else str(part) for part in loc)


def _line_of(root: yaml.Node | None, loc: Sequence[str | int]) -> int:
    """The 1-based line of the node at `loc`, or of its nearest parent that exists. For a key of
    a mapping, the line of the key (where "field:" is written)."""
    if root is None:
        return 1
    node: yaml.Node = root
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            pair = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _duplicate_keys(node: yaml.Node | None, path: tuple[str | int, ...] = ()) -> list[tuple[int, str]]:
    """PyYAML keeps the last of two equal keys without a word; a province's copy-paste slip
    must not silently replace a text, so they are problems."""
    found: list[tuple[int, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            if name in seen:
                where = _path_text((*path, name))
                found.append((key.start_mark.line + 1, f"{where}: this key is written twice"))
            seen.add(name)
            found += _duplicate_keys(value, (*path, name))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            found += _duplicate_keys(value, (*path, index))
    return found


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _problems(root: yaml.Node | None, error: ValidationError) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for err in error.errors():
        loc = tuple(err["loc"])
        if err["type"] == _CHECK:
            for sub, text in err["ctx"]["problems"]:
                full = (*loc, *sub)
                found.append((_line_of(root, full), f"{_path_text(full)}: {text}"))
            continue
        message = err["msg"]
        if err["type"] not in ("missing", "extra_forbidden") and not isinstance(err["input"], (dict, list)):
            message += f" (found: {_shown(err['input'])})"
        if err["type"] == "string_type" and isinstance(err["input"], (int, float)):
            message += '; write it in quotes, e.g. "1.10" (unquoted, 1.10 would be read as the number 1.1)'
        if err["type"] == "extra_forbidden":
            message = "unknown key (a typo?); " + message
        where = _path_text(loc) if loc else "(file)"
        found.append((_line_of(root, loc), f"{where}: {message}"))
    return found


def _read(path: Path) -> tuple[Programme | None, list[str]]:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{name}: cannot be read: {exc}"]
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "not valid YAML"
        if exc.context and exc.problem:
            where = exc.context_mark
            started = (
                f" on line {where.line + 1}" if where is not None and (mark is None or where.line != mark.line) else ""
            )
            what += f" ({exc.context}{started})"
        if "'\\t'" in what:
            what += "; indent with spaces, not Tab"
        return None, [f"{name}{line}: YAML syntax error: {what}"]
    except yaml.YAMLError as exc:
        return None, [f"{name}: YAML error: {exc}"]
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        first = root.start_mark.line + 1 if root is not None else 1
        return None, [f"{name}, line {first}: the file must be a list of fields (code: …, name: …, areas: …)"]
    found = _duplicate_keys(root)
    programme = None
    try:
        programme = Programme.model_validate(data)
    except ValidationError as exc:
        found += _problems(root, exc)
    if found:
        found.sort(key=lambda problem: problem[0])
        return None, [f"{name}, line {line}: {text}" for line, text in found]
    return programme, []


def load_programme(path: Path) -> Programme:
    """Load and check one programme file; raises ProgrammeError listing every problem."""
    programme, problems = _read(Path(path))
    if problems or programme is None:
        raise ProgrammeError(problems)
    return programme


def load_programmes(directory: Path | None = None) -> dict[str, Programme]:
    """Load every `*.yaml` of `directory` (default: the files shipped in this package), keyed by
    programme code. Raises ProgrammeError listing ALL problems of ALL files, including two files
    with the same code and two programmes covering the same plan year for the same unit kind
    (which one would a unit register under?). A directory without programme files is an error."""
    directory = Path(directory) if directory is not None else PROGRAMMES_DIR
    if not directory.is_dir():
        raise ProgrammeError([f"{directory}: no such directory of programme files"])
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise ProgrammeError([f"{directory}: no programme files (*.yaml) in this directory"])
    problems: list[str] = []
    programmes: dict[str, Programme] = {}
    files: dict[str, str] = {}
    for path in paths:
        programme, found = _read(path)
        problems += found
        if programme is None:
            continue
        if programme.code in programmes:
            problems.append(f"{path.name}: code {programme.code!r} is already used by {files[programme.code]}")
            continue
        for other in programmes.values():
            kinds = set(other.registering_kinds) & set(programme.registering_kinds)
            years = set(range(other.first_year, other.last_year + 1)) & set(
                range(programme.first_year, programme.last_year + 1)
            )
            if kinds and years:
                problems.append(
                    f"{path.name}: plan years {min(years)}–{max(years)} are also covered by {files[other.code]} "
                    f"for {', '.join(sorted(kinds))}: one programme per year and unit kind"
                )
        programmes[programme.code] = programme
        files[programme.code] = path.name
    if problems:
        raise ProgrammeError(problems)
    return programmes


@cache
def _load(directory: Path | None) -> dict[str, Programme]:
    return load_programmes(directory)


def programmes(settings) -> dict[str, Programme]:
    """The programme files in use: the shipped ones, or CHIDOAN_PROGRAMMES_DIR's (read once)."""
    return _load(settings.programmes_dir)


def programme_for(programmes: dict[str, Programme], year: int, kind: UnitKind | str) -> Programme | None:
    """The programme covering plan year `year` for units of `kind`, if any."""
    for programme in programmes.values():
        if programme.covers(year) and kind in programme.registering_kinds:
            return programme
    return None
