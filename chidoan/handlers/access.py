"""Which unit a person acts for, asked when a journey starts and again when it finishes.

A journey can take days; meanwhile a hand-over may have ended the person's role. So every
journey's completion asks `acting_unit` again, for the unit the journey was started for, with
the roles read afresh from the database; when the answer is no, `refuse` closes the
conversation with nothing stored and tells the person why.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.i18n import N_
from chidoan.storage.models import ConversationStatus, Role, UnitKind

SECRETARIES = (Role.secretary, Role.deputy)
BASE_UNIT = (UnitKind.base_unit,)
# A branch's secretary reports for the branch; a base unit's secretary for the whole base unit.
REPORTING_KINDS = (UnitKind.branch, UnitKind.branch_group, UnitKind.base_unit)

NO_LONGER = N_("You are no longer secretary or deputy secretary of {unit}, so this was not sent. Nothing was changed.")


def acting_unit(
    ctx: Ctx,
    *,
    kinds: tuple[UnitKind, ...],
    roles: tuple[Role, ...] = SECRETARIES,
    unit_id: int | None = None,
) -> Row | None:
    """The unit this person acts for: one they hold one of `roles` on, of one of `kinds` (the
    first kind preferred). With `unit_id` (a journey finishing for the unit it was started for):
    that unit if they still hold such a role on it, read from the database, not from the roles
    cached at the start of this event; None otherwise."""
    if unit_id is not None:
        ctx.forget_roles()
    held = [
        role
        for role in ctx.roles
        if role.role in roles and role.kind in kinds and (unit_id is None or role.unit_id == unit_id)
    ]
    if not held:
        return None
    first = min(held, key=lambda role: kinds.index(role.kind))  # the oldest role among the preferred kind
    return ctx.uow.units.get(first.unit_id)


def still_acting(
    ctx: Ctx, unit_id: int, *, kinds: tuple[UnitKind, ...], roles: tuple[Role, ...] = SECRETARIES
) -> Row | None:
    """At a journey's completion: the unit if this person still acts for it; otherwise None, the
    conversation closed and the person told."""
    unit = acting_unit(ctx, kinds=kinds, roles=roles, unit_id=unit_id)
    if unit is None:
        refuse(ctx, NO_LONGER, unit=ctx.uow.units.one(unit_id).name)
    return unit


def refuse(ctx: Ctx, msgid: str, **params: Any) -> None:
    """End the open conversation as cancelled (nothing stored; its answers stay in the history)
    and say why."""
    state = ctx.uow.conversations.active(ctx.account_id)
    if state is not None:
        ctx.engine.runner.close(ctx, state, ConversationStatus.cancelled)
    ctx.say(msgid, **params)
