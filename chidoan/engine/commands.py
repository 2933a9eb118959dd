"""Commands: a Vietnamese name, English aliases, who may use them, and what they do."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chidoan.engine.context import Ctx
from chidoan.i18n import fold
from chidoan.storage.models import Role, UnitKind


@dataclass(frozen=True)
class Command:
    name: str  # Vietnamese, without accents (Telegram allows a-z, 0-9 and _)
    aliases: tuple[str, ...]
    description: str  # msgid
    run: Callable[[Ctx, str], None]  # (ctx, the text after the command)
    roles: frozenset[Role] | None = None  # None: anyone, even someone not registered yet
    menu: bool = True  # listed in /help and in the platform's command menu
    resumes: bool = True  # afterwards, ask the open conversation's question again
    # Listed only to those holding one of `roles` on a unit of these kinds (the plan and the
    # dialogue are a base unit's work, not a branch's). Typed anyway, the command says whose it is.
    kinds: frozenset[UnitKind] | None = None

    def allowed(self, ctx: Ctx) -> bool:
        return self.roles is None or ctx.has_role(*self.roles)

    def listed(self, ctx: Ctx) -> bool:
        """Shown in /help: one of this person's roles is for it, on a unit of the right kind."""
        if not self.menu or not self.allowed(ctx):
            return False
        if self.kinds is None or self.roles is None or ctx.has_role(Role.admin):
            return True
        return any(r.role in self.roles and r.kind in self.kinds for r in ctx.roles)


ANY_ROLE = frozenset(Role)
STAFF = frozenset({Role.district_staff})


def parse_command(text: str) -> tuple[str, str] | None:
    """'/start@chidoan_bot ABC' -> ('start', 'ABC'); None when the text is no command."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    head, _, rest = stripped[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    return name, rest.strip()


_JOINERS = re.compile(r"[\s_/-]+")
LIKENESS = 0.75  # "dangki" is 0.83 like "dangky"; "toi" and "moi" (0.67) are two commands


def command_key(text: str) -> str:
    """A command's name as typos are compared: folded, without spaces, "_", "-" or "/"."""
    return _JOINERS.sub("", fold(text))


def closest(typed: str, names: Iterable[str], *, exact: bool = False) -> str | None:
    """The name among `names` that `typed` most likely means: the same once folded ("trangthái",
    "trang thai", "Trạng thái"), or, unless `exact`, spelt a little differently ("dangki")."""
    key = command_key(typed)
    keys = {command_key(name): name for name in names}
    if not key:
        return None
    if key in keys:
        return keys[key]
    found = [] if exact else difflib.get_close_matches(key, keys, n=1, cutoff=LIKENESS)
    return keys[found[0]] if found else None
