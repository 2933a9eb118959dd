"""Invite codes: issued by the CLI or by district staff for units inside their own district."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Row

from chidoan.engine.context import Ctx
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.handlers.scope import in_scope, staff_scope
from chidoan.i18n import N_, fold, format_date
from chidoan.storage.models import Role
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

BOT_USERNAME_KEY = "telegram.username"


def issue(uow: UnitOfWork, *, unit: Row, role: Role, issued_by: int | None, now: datetime, days: int) -> Row:
    return uow.invites.issue(
        unit_id=unit.id, role=role, issued_by=issued_by, now=now, expires_at=now + timedelta(days=days)
    )


def deep_link(username: str | None, code: str) -> str | None:
    return f"https://t.me/{username}?start={code}" if username else None


def bot_username(uow: UnitOfWork, settings) -> str | None:
    return settings.telegram_bot_username or uow.kv.get(BOT_USERNAME_KEY)


def invite_command(ctx: Ctx, args: str) -> None:
    """/moi <unit code> <role>"""
    code, _, role_text = args.strip().partition(" ")
    role = ROLE_WORDS.get(fold(role_text)) if role_text else Role.secretary
    if not code or role is None:
        ctx.say(
            N_(
                "Usage: /moi <unit code> <role>, where role is “bithu” (secretary, the default), “phobithu” (deputy) or “canbo” (district staff). Example: /moi {example} bithu"
            ),
            example=staff_scope(ctx)[0].code if staff_scope(ctx) else "CD-AP1",
        )
        return
    unit = ctx.uow.units.by_code(code.strip().upper()) or ctx.uow.units.by_code(code.strip())
    if unit is None or not in_scope(ctx, unit):
        # The same answer for "no such unit" and "not yours": codes outside one's district stay private.
        ctx.say(N_("There is no unit with code {code} among the units you manage."), code=code[:64])
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
