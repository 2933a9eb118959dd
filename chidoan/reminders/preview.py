"""`chidoan reminders plan --at …`: what a sweep at that moment would make, without making it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, Row

from chidoan.i18n import N_
from chidoan.reminders.run import run_sweep
from chidoan.reminders.sweep import within_hours
from chidoan.storage.uow import UnitOfWork, unit_of_work


def preview(db: Engine, settings, at: datetime, t: Callable[..., str], within: Row | None = None) -> list[str]:
    """The lines to print, in the command's language (`t`): each reminder a sweep at `at` would
    make (recipient, unit, obligation, stage), then the units that owe something with nobody to remind."""
    local = at.astimezone(settings.tz)
    start, end = settings.allowed_hours
    if not within_hours((start, end), at, settings.tz):
        return [
            t(
                N_(
                    "{at}: nothing goes out: outside the allowed hours {start}–{end} (CHIDOAN_REMINDER_HOURS); what is due then goes with the first sweep after {start}."
                ),
                at=f"{local:%d/%m/%Y %H:%M}",
                start=f"{start:%H:%M}",
                end=f"{end:%H:%M}",
            )
        ]
    season = run_sweep(db, settings, at, dry_run=True, within=within)
    with unit_of_work(db) as uow:
        names = {a.id: a.full_name for a in _accounts(uow, {p.account_id for p in season.planned})}
    lines = [t(N_("{at}: {n} reminder(s)"), at=f"{local:%d/%m/%Y %H:%M}", n=len(season.planned))]
    for p in season.planned:
        o = p.obligation
        account = t(N_("account {id}"), id=p.account_id)
        due = t(N_("{key} due {day}"), key=o.key, day=f"{o.due:%d/%m/%Y}")
        lines.append(
            f"  {names.get(p.account_id) or account} ({account}) | {o.unit.code} {o.unit.name} | {due} | {p.stage.name}"
        )
    lines.append(t(N_("Owed, nobody to remind (no secretary or deputy bound): {n}"), n=len(season.nobody)))
    for o in season.nobody:
        due = t(N_("{key} due {day}"), key=o.key, day=f"{o.due:%d/%m/%Y}")
        lines.append(f"  {o.unit.code} {o.unit.name} | {due}")
    return lines


def _accounts(uow: UnitOfWork, ids: set[int]) -> list[Row]:
    return [a for a in (uow.accounts.get(i) for i in sorted(ids)) if a is not None]
