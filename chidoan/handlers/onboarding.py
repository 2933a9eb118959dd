"""Joining with an invite code: confirm name and position, then the role is bound.

The invite is consumed only at confirmation, atomically, so two people racing for one code
cannot both get it. A new secretary of a unit replaces the previous one (hand-over).
"""

from __future__ import annotations

from chidoan.engine.context import Ctx
from chidoan.engine.journey import Answers, Journey, Kind, Step
from chidoan.handlers.invites import refuse_redeeming_closed
from chidoan.handlers.labels import ROLE_LABELS
from chidoan.handlers.privacy import ask_before_joining
from chidoan.i18n import N_
from chidoan.storage.models import Role

POSITIONS = {
    Role.secretary: [N_("Secretary")],
    Role.deputy: [N_("Deputy secretary")],
    Role.district_staff: [
        N_("Standing committee member"),
        N_("Full-time officer"),
        N_("Deputy secretary"),
        N_("Secretary"),
    ],
    Role.admin: [N_("Administrator")],
}


def start_with_code(ctx: Ctx, code: str) -> None:
    invite = ctx.uow.invites.by_code(code)
    if invite is None:
        ctx.say(
            N_("I do not know the code {code}. Please check it, or ask the union above you for a new one."),
            code=code.strip()[:32],
        )
        return
    unit = ctx.uow.units.one(invite.unit_id)
    if invite.used_at is not None:
        if invite.used_by == ctx.account_id:
            ctx.say(N_("You have already joined {unit} with this code. Type /toi to see your details."), unit=unit.name)
        else:
            ctx.say(N_("This code has already been used. Please ask the union above you for a new one."))
        return
    if invite.expires_at <= ctx.now:
        ctx.say(
            N_("This code expired on {date}. Please ask the union above you for a new one."),
            date=invite.expires_at.astimezone(ctx.tz).strftime("%d/%m/%Y"),
        )
        return
    if refuse_redeeming_closed(ctx, unit):
        return
    if ask_before_joining(ctx, invite.id):  # nothing personal is asked before the notice's "Agree"
        return
    parents = " › ".join(a.name for a in reversed(ctx.uow.units.ancestors(unit)))
    ctx.say(
        N_("Welcome! This code makes you {role} of {unit} ({parents}). Two questions to confirm who you are."),
        role=ctx.t(ROLE_LABELS[Role(invite.role)]),
        unit=unit.name,
        parents=parents or "-",
    )
    ctx.engine.runner.start(ctx, "onboarding", context={"invite_id": invite.id})


def _name_suggestions(ctx: Ctx, _answers: Answers) -> list[str]:
    names = [ctx.sender.full_name, ctx.sender.display_name]
    return [n for n in dict.fromkeys(names) if n]


def _position_suggestions(ctx: Ctx, answers: Answers) -> list[str]:
    conv = ctx.uow.conversations.active(ctx.account_id)
    if conv is None:
        return []
    invite = ctx.uow.invites.one(conv.data["ctx"]["invite_id"])
    return [ctx.t(p) for p in POSITIONS[Role(invite.role)]]


def _complete(ctx: Ctx, answers: Answers) -> None:
    uow = ctx.uow
    invite = uow.invites.one(answers["_ctx"]["invite_id"])
    if refuse_redeeming_closed(ctx, uow.units.one(invite.unit_id)):  # merged away while they answered
        return
    if not uow.invites.consume(invite.id, ctx.account_id, ctx.now):
        ctx.say(
            N_("Sorry, this code was used or expired in the meantime. Please ask the union above you for a new one.")
        )
        return
    unit = uow.units.one(invite.unit_id)
    role = Role(invite.role)
    uow.accounts.update(ctx.account_id, full_name=answers["full_name"], position=answers["position"])
    if role is Role.secretary:
        for old in uow.roles.holders(unit.id, Role.secretary):
            if old.account_id != ctx.account_id:
                uow.roles.revoke(old.id, reason="handover", now=ctx.now)
                ctx.notify(
                    old.account_id,
                    N_(
                        "{name} is now the secretary of {unit}. Your secretary access to this unit has ended. Thank you for your work!"
                    ),
                    name=answers["full_name"],
                    unit=unit.name,
                )
    if not any(r.role == role and r.account_id == ctx.account_id for r in uow.roles.holders(unit.id, role)):
        uow.roles.grant(account_id=ctx.account_id, unit_id=unit.id, role=role, invite_id=invite.id, now=ctx.now)
    ctx.forget_roles()
    reviewer = uow.units.reviewer(unit)
    if reviewer is not None and reviewer.id != unit.id:
        for staff in uow.roles.holders(reviewer.id, Role.district_staff):
            if staff.account_id != ctx.account_id:
                ctx.notify(
                    staff.account_id,
                    N_("{name} joined as {role} of {unit}."),
                    name=answers["full_name"],
                    role=ROLE_LABELS[role],
                    unit=unit.name,
                )
    ctx.say(
        N_("Done! You are now {role} of {unit}. Type /help to see what you can do."),
        role=ctx.t(ROLE_LABELS[role]),
        unit=unit.name,
    )


ONBOARDING = Journey(
    name="onboarding",
    title=N_("Joining"),
    steps=(
        Step(
            "full_name",
            N_("What is your full name? (as it should appear on documents)"),
            kind=Kind.name,
            label=N_("Full name"),
            max_len=120,
            suggest=_name_suggestions,
        ),
        Step(
            "position",
            N_("What is your position? Press one or type it."),
            label=N_("Position"),
            min_len=2,
            max_len=120,
            suggest=_position_suggestions,
        ),
    ),
    complete=_complete,
    submit_label=N_("✅ Confirm"),
)
