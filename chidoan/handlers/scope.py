"""What part of the org tree a person may see and act on.

Reviewing staff (and admins) act on the subtree of each unit they hold that role on; a secretary
or deputy sees their own unit and its subtree (a base unit's secretary, its branches); someone
with no role sees nothing. Every command and button of the reviewing level asks here, so a
button forged with another unit's id is refused the same way as a code typed by hand.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.storage.models import Role

STAFF_ROLES = (Role.district_staff, Role.admin)


def staff_roles(roles: Iterable[Row]) -> list[Row]:
    """Of these roles (rows with their unit's columns, as `uow.roles.active_of` gives them), the
    ones whose subtree their holder acts on as staff."""
    return [r for r in roles if r.role in STAFF_ROLES]


def reviews_unit(roles: Iterable[Row], unit: Row) -> bool:
    """Whether these roles (someone's, read from the database) make their holder reviewing staff
    of `unit`: a staff role on it or on a unit above it."""
    return any(unit.path.startswith(scope.path) for scope in staff_roles(roles))


def staff_scope(ctx: Ctx) -> list[Row]:
    """The roles (with their unit's columns) whose subtree this account may act on as staff."""
    return staff_roles(ctx.roles)


def in_scope(ctx: Ctx, unit: Row) -> bool:
    """May this person act on `unit` as reviewing staff?"""
    return reviews_unit(ctx.roles, unit)


def visible_roots(ctx: Ctx) -> list[Row]:
    """The roles whose subtree this person may see: as staff, and as secretary or deputy."""
    return list(ctx.roles)


def can_see(ctx: Ctx, unit: Row) -> bool:
    return any(unit.path.startswith(role.path) for role in visible_roots(ctx))


def find_units(ctx: Ctx, text: str, *, staff_only: bool = True, limit: int = 20) -> list[Row]:
    """Units this person may see (or, `staff_only`, act on as staff) whose code is `text` or
    whose name holds its words, typed with or without accents."""
    roots = staff_scope(ctx) if staff_only else visible_roots(ctx)
    return ctx.uow.units.search(roots, text, limit=limit)
