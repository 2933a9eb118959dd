"""The reminder policy as data (policy.yaml, or the file CHIDOAN_REMINDER_POLICY names): for
each kind of obligation, the stages at which its owner is reminded.

`current_stage` is the whole rule of what a sweep sends: the newest stage whose moment has
come, unless the next stage's moment has come too (then that one is the newest). So a sweep
that runs late, or after days of downtime, sends one reminder per obligation, the one that
fits today, never a pile of stale ones; and the last repeat stops being sent once a repeat
interval has passed after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

POLICY_FILE = Path(__file__).resolve().parent / "policy.yaml"
KINDS = ("plan", "meeting", "dialogue", "commitment")
Message = Literal["opening", "before", "last_day", "overdue"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StageSpec(_Frozen):
    name: str = Field(pattern=r"^[a-z0-9_]{1,20}$")
    days: int = Field(ge=-366, le=366)  # from the due day (the first late day)
    at: time = time(8, 0)
    message: Message


class Repeat(_Frozen):
    every_days: int = Field(ge=1, le=90)
    times: int = Field(ge=0, le=52)


class KindPolicy(_Frozen):
    stages: list[StageSpec] = Field(min_length=1)
    repeat: Repeat = Repeat(every_days=7, times=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        moments = [(s.days, s.at) for s in self.stages]
        if moments != sorted(moments) or len(set(moments)) != len(moments):
            raise ValueError("stages must be in time order, each at its own moment")
        if len({s.name for s in self.stages}) != len(self.stages):
            raise ValueError("two stages have the same name")
        return self


@dataclass(frozen=True)
class Stage:
    name: str  # the reminder's key: "before_7", "overdue", "weekly_2"
    message: Message
    at: datetime  # aware, when it is due


class Policy(_Frozen):
    plan: KindPolicy
    meeting: KindPolicy
    dialogue: KindPolicy
    commitment: KindPolicy

    def of(self, kind: str) -> KindPolicy:
        return getattr(self, kind)

    def stages(self, kind: str, due: date, tz: tzinfo) -> list[Stage]:
        """Every stage of an obligation due on `due`, in time order, repeats included."""
        spec = self.of(kind)
        found = [
            Stage(s.name, s.message, datetime.combine(due + timedelta(days=s.days), s.at, tzinfo=tz))
            for s in spec.stages
        ]
        last = spec.stages[-1]
        for n in range(1, spec.repeat.times + 1):
            day = due + timedelta(days=last.days + n * spec.repeat.every_days)
            found.append(Stage(f"weekly_{n}", "overdue", datetime.combine(day, last.at, tzinfo=tz)))
        return found

    def current_stage(self, kind: str, due: date, at: datetime, tz: tzinfo) -> Stage | None:
        """The stage a sweep at `at` sends for this obligation (see the module's docstring)."""
        return self.current_of(kind, self.stages(kind, due, tz), at)

    def current_of(self, kind: str, stages: list[Stage], at: datetime) -> Stage | None:
        """`current_stage` among an obligation's `stages` (made once, by `stages`)."""
        current = None
        for stage in stages:
            if stage.at > at:
                return current
            current = stage
        repeat = self.of(kind).repeat.every_days
        if current is not None and at - current.at >= timedelta(days=repeat):
            return None  # the last one is stale: the season of this obligation is over
        return current

    def horizon(self, kind: str) -> tuple[int, int]:
        """(days before, days after) the due day within which this kind sends anything."""
        spec = self.of(kind)
        first = spec.stages[0].days
        last = spec.stages[-1].days + (spec.repeat.times + 1) * spec.repeat.every_days
        return max(0, -first), max(0, last)


def load_policy(path: Path | None = None) -> Policy:
    """Read and check a policy file; a wrong one stops the start with pydantic's own message."""
    with open(path or POLICY_FILE, encoding="utf-8") as handle:
        return Policy.model_validate(yaml.safe_load(handle))


@cache
def _cached(path: Path | None) -> Policy:
    return load_policy(path)


def policy_of(settings) -> Policy:
    """The policy in use (CHIDOAN_REMINDER_POLICY, else the shipped file), read once."""
    return _cached(settings.reminder_policy)
