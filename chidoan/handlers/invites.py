"""Invite codes: issued by the CLI or by the reviewing staff for units inside their own subtree,
named by code or by name typed with or without accents (several matches: a choice)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.engine.inputs import has_words, parse_id
from chidoan.engine.messages import BUTTON_GONE, Button
from chidoan.handlers.access import REPORTING_KINDS
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.handlers.scope import find_units, in_scope, staff_scope
from chidoan.i18n import N_, fold, format_date
from chidoan.storage.models import Role, UnitKind
from chidoan.storage.uow import UnitOfWork

ROLE_WORDS = {
    "secretary": Role.secretary,
    "bi thu": Role.secretary,
    "bithu": Role.secretary,
    "deputy": Role.deputy,
    "pho bi thu": Role.deputy,
    "phobithu": Role.deputy,
    "district_staff": Role.district_staff,
    "district staff": Role.district_staff,
    "can bo": Role.district_staff,
    "canbo": Role.district_staff,
}

# The word /moi takes for each role (ROLE_WORDS reads others too), as its usage shows them.
ROLE_WORD = {Role.secretary: "bithu", Role.deputy: "phobithu", Role.district_staff: "canbo"}
UNION_LEVELS = (UnitKind.province, UnitKind.district)

BOT_USERNAME_KEY = "telegram.username"


def valid_roles(unit: Row) -> tuple[Role, ...]:
    """The roles an invite to `unit` may carry: a secretary and a deputy lead a base unit, a
    branch group or a branch; staff work at a union above them (a level above the base units, or
    a unit that reviews others), never at a ward's or a school's union."""
    leaders = (Role.secretary, Role.deputy) if unit.kind in REPORTING_KINDS else ()
    staff = (Role.district_staff,) if unit.reviews or unit.kind in UNION_LEVELS else ()
    return leaders + staff


def issue(uow: UnitOfWork, *, unit: Row, role: Role, issued_by: int | None, now: datetime, days: int) -> Row:
    return uow.invites.issue(
        unit_id=unit.id, role=role, issued_by=issued_by, now=now, expires_at=now + timedelta(days=days)
    )


def deep_link(username: str | None, code: str) -> str | None:
    return f"https://t.me/{username}?start={code}" if username else None


def bot_username(uow: UnitOfWork, settings) -> str | None:
    return settings.telegram_bot_username or uow.kv.get(BOT_USERNAME_KEY)


def invite_command(ctx: Ctx, args: str) -> None:
    """/moi <unit code or name> [role]: "/moi RG-VB bithu", "/moi Phi Thông", "/moi phi thong phobithu"."""
    text, role = _split_role(args.strip())
    code, _, rest = text.partition(" ")
    if rest and _managed(ctx, code):  # "/moi RG-VB phó": a code, then a role that is none of them
        role = None
    if not text or role is None:
        ctx.say(
            N_(
                "Usage: /moi <unit code> <role>, where role is “bithu” (secretary, the default), “phobithu” (deputy) or “canbo” (staff of the union above). Example: /moi {example} bithu"
            ),
            example=_example(ctx),
        )
        return
    unit = _managed(ctx, text)
    if unit is not None:
        return _issue(ctx, unit, role)
    matching = find_units(ctx, text[:100], limit=FOUND_MAX + 1) if has_words(text) else []
    found = [u for u in matching if ctx.uow.units.is_open(u)]  # merged units last, when any
    if not found and matching:  # only a unit merged away has that name: say where it went
        return _refuse_closed(ctx, matching[0])
    if len(found) == 1:
        return _issue(ctx, found[0], role)
    if not found:
        # The same answer for "no such unit" and "not yours": codes outside one's subtree stay private.
        if " " in text:
            ctx.say(N_("There is no unit named “{name}” among the units you manage."), name=text[:64])
        else:
            ctx.say(N_("There is no unit with code {code} among the units you manage."), code=text[:64])
        return
    lines = [ctx.t(N_("Several units you manage match “{name}”. Which one?"), name=text[:64])]
    if len(found) > FOUND_MAX:
        lines.append(ctx.t(N_("There are more than {n}: type more words of the name."), n=FOUND_MAX))
    buttons = [[Button(f"{u.name} ({u.code})", f"inv:{u.id}:{role}")] for u in found[:FOUND_MAX]]
    ctx.say_text("\n".join(lines), buttons=buttons)


FOUND_MAX = 20


def _example(ctx: Ctx) -> str:
    """A code for the usage's "/moi <code> bithu": a unit below the staff member's own that has a
    secretary (their own union takes only staff)."""
    scope = staff_scope(ctx)
    if not scope:
        return "CD-AP1"
    below = ctx.uow.units.children(ctx.uow.units.one(scope[0].unit_id))
    return next((u.code for u in below if Role.secretary in valid_roles(u) and ctx.uow.units.is_open(u)), scope[0].code)


def _managed(ctx: Ctx, code: str) -> Row | None:
    unit = ctx.uow.units.by_code(code.upper()) or ctx.uow.units.by_code(code)
    return unit if unit is not None and in_scope(ctx, unit) else None


def _split_role(text: str) -> tuple[str, Role | None]:
    """The unit part and the role of "/moi"'s text: a role word (or two, three: "pho bi thu")
    at its end, else a secretary; a role word alone is no unit."""
    words = text.split()
    for size in (3, 2, 1):
        if len(words) > size and (role := ROLE_WORDS.get(fold(" ".join(words[-size:])))) is not None:
            return " ".join(words[:-size]), role
    if len(words) == 1 and fold(words[0]) in ROLE_WORDS:
        return "", Role.secretary
    return text, Role.secretary


def invite_action(ctx: Ctx, arg: str) -> None:
    """Buttons "inv:<unit id>:<role>" (a choice among the units a name matched): the unit must
    still be inside the staff member's subtree and the role one /moi issues."""
    ident, _, role_text = arg.partition(":")
    unit = ctx.uow.units.get(unit_id) if (unit_id := parse_id(ident)) else None
    if unit is None or not in_scope(ctx, unit) or role_text not in set(ROLE_WORDS.values()):
        ctx.say(BUTTON_GONE)
        return
    _issue(ctx, unit, Role(role_text))


def _issue(ctx: Ctx, unit: Row, role: Role) -> None:
    if not ctx.uow.units.is_open(unit):
        return _refuse_closed(ctx, unit)
    roles = valid_roles(unit)
    if role not in roles:
        ctx.say(
            N_("An invite to {unit} cannot be for {role}. Its roles: {roles}. Example: /moi {code} {word}"),
            unit=unit.name,
            role=ctx.t(ROLE_LABELS[role]),
            roles=", ".join(f"“{ROLE_WORD[r]}” ({ctx.t(ROLE_LABELS[r])})" for r in roles),
            code=unit.code,
            word=ROLE_WORD[roles[0]],
        )
        return
    invite = issue(ctx.uow, unit=unit, role=role, issued_by=ctx.account_id, now=ctx.now, days=ctx.settings.invite_days)
    link = deep_link(bot_username(ctx.uow, ctx.settings), invite.code)
    ctx.say(
        N_(
            "Invite code for {role} of {unit}: {code}\nValid until {expires}, for one person only.\nThey can send the code to this bot, or open: {link}"
        ),
        role=ctx.t(ROLE_LABELS[role]),
        unit=unit.name,
        code=invite.code,
        expires=format_date(invite.expires_at.astimezone(ctx.tz)),
        link=link or ctx.t(N_("(the Telegram link appears once the bot has connected to Telegram)")),
    )


def _refuse_closed(ctx: Ctx, unit: Row) -> None:
    """No invite to a unit merged away (`chidoan org merge`) or closed, as `chidoan invite`."""
    into = ctx.uow.units.successor(unit)
    if into is not None:
        ctx.say(
            N_("{unit} has merged into {into} ({code}); invite to {into} instead."),
            unit=unit.name,
            into=into.name,
            code=into.code,
        )
    else:
        ctx.say(
            N_("{unit} was closed on {date}; it takes no new members."),
            unit=unit.name,
            date=format_date(unit.closed_on) if unit.closed_on else "?",
        )


def refuse_redeeming_closed(ctx: Ctx, unit: Row) -> bool:
    """A code whose unit has been merged away or closed since it was issued is not redeemed:
    say so, and whom to ask for a code to the unit that took its work. True when refused."""
    uow = ctx.uow
    if uow.units.is_open(unit):
        return False
    into = uow.units.successor(unit)
    ask = uow.units.reviewer(into or unit) or into or unit
    if into is not None:
        ctx.say(
            N_(
                "This code is for {unit}, which has merged into {into}, so it no longer works. Please ask {ask} for a code to {into}."
            ),
            unit=unit.name,
            into=into.name,
            ask=ask.name,
        )
    else:
        ctx.say(
            N_(
                "This code is for {unit}, which closed on {date}, so it no longer works. Please ask {ask} if you need a code."
            ),
            unit=unit.name,
            date=format_date(unit.closed_on) if unit.closed_on else "?",
            ask=ask.name,
        )
    return True
