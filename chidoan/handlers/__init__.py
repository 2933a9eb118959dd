"""User journeys and commands; `build_engine` wires them into the platform-free engine."""

from __future__ import annotations

from chidoan.engine.commands import ANY_ROLE, STAFF, Command
from chidoan.engine.dispatch import Engine
from chidoan.engine.jobs import JobFn
from chidoan.handlers import (
    basics,
    commitments,
    deadlines,
    dialogues,
    documents,
    link,
    meetings,
    pending,
    privacy,
    registration,
    reminders,
    reports,
    review,
    status,
    units,
)
from chidoan.handlers.access import BASE_UNIT
from chidoan.handlers.invites import invite_action, invite_command
from chidoan.handlers.onboarding import ONBOARDING, start_with_code
from chidoan.i18n import N_
from chidoan.programmes.loader import programmes
from chidoan.storage.models import Role

SECRETARIES = frozenset({Role.secretary, Role.deputy})
BASE_UNITS = frozenset(BASE_UNIT)

COMMANDS = [
    Command("start", (), N_("start, or join with an invite code"), basics.start, resumes=False),
    Command("trogiup", ("help",), N_("what I can do for you"), basics.help_),
    Command("toi", ("me",), N_("your details: unit and role"), basics.me),
    Command(
        "dangky",
        ("register",),
        N_("register your base unit's yearly plan"),
        registration.register_command,
        roles=SECRETARIES,
        kinds=BASE_UNITS,
        resumes=False,
    ),
    Command(
        "kehoach",
        ("plan",),
        N_("get your unit's registered plan document"),
        registration.plan_command,
        roles=SECRETARIES,
    ),
    Command(
        "trangthai",
        ("status",),
        N_("where things stand: your unit's obligations, or the units you review"),
        status.status_command,
        roles=SECRETARIES | STAFF,
    ),
    Command(
        "sinhhoat",
        ("meeting",),
        N_("report a branch meeting"),
        meetings.meeting_command,
        roles=SECRETARIES,
        resumes=False,
    ),
    Command(
        "doithoai",
        ("dialogue",),
        N_("report a dialogue with local leaders"),
        dialogues.dialogue_command,
        roles=SECRETARIES,
        kinds=BASE_UNITS,
        resumes=False,
    ),
    Command(
        "baocao",
        ("reports",),
        N_("your unit's reports of this year: view, edit, withdraw"),
        reports.reports_command,
        roles=SECRETARIES,
    ),
    Command(
        "nhacnho",
        ("remind",),
        N_("remind the units below you of what is late or due soon"),
        reminders.nudge_command,
        roles=STAFF,
    ),
    Command(
        "chuanop",
        ("pending",),
        N_("who below you still owes what, with the deadlines"),
        pending.pending_command,
        roles=STAFF,
    ),
    Command(
        "hanchot",
        ("deadline",),
        N_("the deadlines of the units you review; move one"),
        deadlines.deadline_command,
        roles=STAFF,
    ),
    Command(
        "duyet",
        ("review",),
        N_("review the plans and reports of the units you review: accept, return, rate"),
        review.review_command,
        roles=STAFF,
    ),
    Command(
        "donvi",
        ("units",),
        N_("the units you can see, with their codes; /donvi <name> searches"),
        units.units_command,
        roles=ANY_ROLE,
    ),
    Command("xem", ("view",), N_("one unit's page: plan, reports, commitments"), units.view_command, roles=ANY_ROLE),
    Command(
        "baocaohuyen",
        ("baocaotonghop", "summaryreport"),
        N_("the compiled report on the plans of the units you review, to send upward"),
        documents.compiled_command,
        roles=STAFF,
    ),
    Command(
        "quyetdinh",
        ("decision",),
        N_("the decision recognising the units whose plans passed"),
        documents.decision_command,
        roles=STAFF,
    ),
    Command(
        "xuat",
        ("export",),
        N_("a spreadsheet of your units' plans, reports and reviews"),
        documents.export_command,
        roles=STAFF,
    ),
    Command("moi", ("invite",), N_("issue an invite code for a unit you manage"), invite_command, roles=STAFF),
    Command("lienket", ("link",), N_("use the same account in another app; where notices go"), link.link_command),
    Command(
        "dulieu",
        ("mydata",),
        N_("the personal data held about you: see it, get a copy, erase it"),
        privacy.data_command,
    ),
    Command("ngonngu", ("language",), N_("change the language"), basics.language, resumes=False),
    Command("huy", ("cancel",), N_("cancel what we are doing"), basics.cancel, resumes=False),
]

JOURNEYS = [
    ONBOARDING,
    meetings.MEETING,
    dialogues.DIALOGUE,
    commitments.NOTE,
    review.RETURN,
    review.NOTE,
    review.OVERRIDE,
]  # and one registration journey per programme file, see build_engine

ACTIONS = {
    "lang": basics.set_language,
    "reg": registration.registration_action,
    "cm": commitments.commitment_action,
    "rp": reports.report_action,
    "lk": link.link_action,
    "rm": reminders.reminder_action,
    "dl": deadlines.deadline_action,
    "dv": review.review_action,
    "un": units.unit_action,
    "inv": invite_action,
    "doc": documents.document_action,
    "st": status.status_action,
    "pd": pending.pending_action,
    "cs": privacy.consent_action,
    "dd": privacy.data_action,
}

# Work left for after a commit, by kind (`ctx.later`, see engine/jobs.py).
JOBS: dict[str, JobFn] = {
    **documents.JOBS,
    "status_chart": status.status_chart,
    "status_reply": status.status_reply,
    "pending_reply": pending.pending_reply,
    privacy.DATA_EXPORT: privacy.data_export,
}


def build_engine(settings) -> Engine:
    plans = [registration.build_journey(p) for p in programmes(settings).values()]
    return Engine(
        settings,
        commands=COMMANDS,
        journeys=[*JOURNEYS, *plans],
        actions=ACTIONS,
        on_code=start_with_code,
        on_link_code=link.link_code,
        jobs=JOBS,
        on_contact=privacy.notice_first,
    )


__all__ = ["COMMANDS", "JOURNEYS", "build_engine"]
