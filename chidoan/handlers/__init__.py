"""User journeys and commands; `build_engine` wires them into the platform-free engine."""

from __future__ import annotations

from chidoan.engine.dispatch import Engine
from chidoan.handlers import basics
from chidoan.handlers.invites import invite_command
from chidoan.handlers.onboarding import ONBOARDING, start_with_code
from chidoan.engine.commands import STAFF, Command
from chidoan.i18n import N_

COMMANDS = [
    Command("start", (), N_("start, or join with an invite code"), basics.start, resumes=False),
    Command("trogiup", ("help",), N_("what I can do for you"), basics.help_),
    Command("toi", ("me",), N_("your details: unit and role"), basics.me),
    Command("moi", ("invite",), N_("issue an invite code for a unit you manage"), invite_command, roles=STAFF),
    Command("ngonngu", ("language",), N_("change the language"), basics.language, resumes=False),
    Command("huy", ("cancel",), N_("cancel what we are doing"), basics.cancel, resumes=False),
]

JOURNEYS = [ONBOARDING]

ACTIONS = {"lang": basics.set_language}


def build_engine(settings) -> Engine:
    return Engine(settings, commands=COMMANDS, journeys=JOURNEYS, actions=ACTIONS, on_code=start_with_code)


__all__ = ["COMMANDS", "JOURNEYS", "build_engine"]
