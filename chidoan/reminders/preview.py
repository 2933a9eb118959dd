"""`chidoan reminders plan --at …`: what a sweep at that moment would make, without making it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, Row

from chidoan.reminders.run import run_sweep
from chidoan.reminders.sweep import within_hours
from chidoan.storage.uow import UnitOfWork, unit_of_work


def preview(db: Engine, settings, at: datetime, within: Row | None = None) -> list[str]:
    """The lines to print: each reminder a sweep at `at` would make (recipient, unit, obligation,
    stage), then the units that owe something with nobody to remind."""
    local = at.astimezone(settings.tz)
    start, end = settings.allowed_hours
    if not within_hours((start, end), at, settings.tz):
        return [
            f"{local:%d/%m/%Y %H:%M}: nothing goes out: outside the allowed hours "
            f"{start:%H:%M}–{end:%H:%M} (CHIDOAN_REMINDER_HOURS); what is due then goes with the first sweep after {start:%H:%M}."
        ]
    season = run_sweep(db, settings, at, dry_run=True, within=within)
    with unit_of_work(db) as uow:
        names = {a.id: a.full_name for a in _accounts(uow, {p.account_id for p in season.planned})}
    lines = [f"{local:%d/%m/%Y %H:%M}: {len(season.planned)} reminder(s)"]
    for p in season.planned:
        o = p.obligation
        who = names.get(p.account_id) or f"account {p.account_id}"
        lines.append(
            f"  {who} (account {p.account_id}) | {o.unit.code} {o.unit.name} | {o.key} due {o.due:%d/%m/%Y} | {p.stage.name}"
        )
    lines.append(f"Owed, nobody to remind (no secretary or deputy bound): {len(season.nobody)}")
    for o in season.nobody:
        lines.append(f"  {o.unit.code} {o.unit.name} | {o.key} due {o.due:%d/%m/%Y}")
    return lines


def _accounts(uow: UnitOfWork, ids: set[int]) -> list[Row]:
    return [a for a in (uow.accounts.get(i) for i in sorted(ids)) if a is not None]
