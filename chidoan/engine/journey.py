"""Journeys as data: steps with a question, an input kind, validation and branching.

A journey is a tuple of `Step`s. The runner walks them in order, skipping steps whose `when`
is false and jumping where `next` says; a `repeat` step collects a list of items, each made of
its sub-steps, asking "add another?" after each. Every journey ends with a summary the user
confirms or edits step by step, then `complete` writes the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chidoan.engine.context import Ctx

Answers = dict[str, Any]


class Kind(StrEnum):
    text = "text"
    name = "name"  # a person's full name: two words at least, in letters (see inputs.parse_name)
    number = "number"
    date = "date"
    choice = "choice"
    yes_no = "yes_no"
    period = "period"  # a month, a quarter, a date or a usual phrase (see inputs.parse_period)
    photos = "photos"  # photos or scans sent one by one (an album is several), then "Done"
    repeat = "repeat"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str  # msgid


@dataclass(frozen=True)
class Step:
    key: str
    prompt: str  # msgid; may use {placeholders} filled by `params`
    kind: Kind = Kind.text
    label: str | None = None  # msgid shown in the summary; defaults to the key's prompt
    required: bool = True
    # text
    min_len: int = 1
    max_len: int = 4000
    # one-tap answers: a text, or (button label, text) when the text is too long for a button
    suggest: Callable[[Ctx, Answers], Sequence[str | tuple[str, str]]] | None = None
    # number
    integer: bool = True
    minimum: float | None = 0
    maximum: float | None = None
    # date
    not_future: bool = False
    # choice
    choices: tuple[Choice, ...] = ()
    # any kind: extra check, returns an error msgid (and params) or None
    validate: Callable[[Ctx, Answers, Any], tuple[str, dict] | None] | None = None
    # any kind: a possible but unusual value (a branch of 1.200 members, a task outside the plan
    # year) returns a question msgid (and params), asked before it is stored; None when usual
    doubt: Callable[[Ctx, Answers, Any], tuple[str, dict] | None] | None = None
    params: Callable[[Ctx, Answers], dict] | None = None
    # branching
    when: Callable[[Answers], bool] | None = None
    next: Callable[[Answers], str | None] | None = None
    # photos
    max_photos: int = 10
    # repeat
    steps: tuple[Step, ...] = ()
    more_prompt: str | None = None  # msgid, "Add another …?"
    min_items: int = 1

    def applies(self, answers: Answers) -> bool:
        return self.when is None or self.when(answers)


@dataclass(frozen=True)
class Journey:
    name: str
    title: str  # msgid
    steps: tuple[Step, ...]
    complete: Callable[[Ctx, Answers], None]
    intro: str | None = None  # msgid said once at the start
    submit_label: str | None = None  # msgid of the confirm button
    confirm: bool = True  # False: completed as soon as the last step is answered, no summary

    def __post_init__(self) -> None:
        keys = [s.key for s in self.steps]
        if len(keys) != len(set(keys)):
            raise ValueError(f"journey {self.name}: duplicate step keys")
        for step in self.steps:
            if any(ch in step.key for ch in ".@:"):
                raise ValueError(f"journey {self.name}: step key {step.key!r} may not contain . @ :")
            if step.kind is Kind.repeat and not step.steps:
                raise ValueError(f"journey {self.name}: repeat step {step.key} has no sub-steps")

    def step(self, key: str) -> Step:
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(key)
