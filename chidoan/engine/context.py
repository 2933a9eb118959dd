"""What a handler sees while one incoming event is processed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row

from chidoan.engine.messages import Attachment, Button, Incoming, Outgoing, Typed
from chidoan.i18n import gettext
from chidoan.storage.models import Role
from chidoan.storage.uow import UnitOfWork

if TYPE_CHECKING:  # both import this module
    from chidoan.bot.config import Settings
    from chidoan.engine.dispatch import Engine


@dataclass(frozen=True)
class Notice:
    """A message for another account (`Ctx.notify`), rendered when it is queued."""

    account_id: int
    msgid: str
    params: dict
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)  # (label msgid, payload)
    attachment: Attachment | None = None


@dataclass
class Ctx:
    uow: UnitOfWork
    incoming: Incoming
    sender: Row  # identity and account columns, see storage/accounts.py
    now: datetime  # UTC
    tz: tzinfo  # the service's zone (settings.tz)
    settings: Settings
    engine: Engine  # for handlers that start journeys or list commands
    replies: list[Outgoing] = field(default_factory=list)
    # Messages for other people: hand-over notices, the reviewing staff's notices (see `notify`)
    notices: list[Notice] = field(default_factory=list)

    @property
    def account_id(self) -> int:
        return self.sender.account_id

    @property
    def locale(self) -> str:
        return self._locale_override or self.sender.locale

    _locale_override: str | None = None

    def switch_locale(self, locale: str) -> None:
        self._locale_override = locale

    @property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    def t(self, msgid: str, **params: object) -> str:
        return gettext(self.locale, msgid, **params)

    def say(self, msgid: str, *, buttons: list[list[Button]] | None = None, **params: object) -> None:
        self.replies.append(Outgoing(self.t(msgid, **params), buttons or []).with_hint(self.locale))

    def say_text(self, text: str, *, buttons: list[list[Button]] | None = None, typed: Typed = Typed.choice) -> None:
        """`typed`: how text typed next is read against the buttons (see engine/typed.py)."""
        self.replies.append(Outgoing(text, buttons or [], typed=typed).with_hint(self.locale))

    def send_document(self, document_id: int, filename: str, msgid: str, **params: object) -> None:
        self.replies.append(Outgoing(self.t(msgid, **params), attachment=Attachment(document_id, filename)))

    def rendered(self, work: Callable[..., bytes], *args: Any) -> bytes:
        """`work(*args)` (a document's bytes), rendered outside this event's transaction when
        the service runs it (engine/rendering.py). `args` must pickle."""
        return self.engine.renders.get(work, *args)

    def later(self, kind: str, **params: object) -> bool:
        """Leave work for after this event's commit, answered in this chat (bot/jobs.py): a
        chart, a document or an export is read in short transactions and rendered off the
        database thread, so nobody's reply waits behind it. `params` must be JSON. False when
        the same job (same asker, chat and params) is still pending: nothing stored."""
        inc = self.incoming
        stored = self.uow.jobs.add(
            kind=kind, account_id=self.account_id, channel=inc.channel, chat_id=inc.chat_id, params=params, now=self.now
        )
        if stored is None:
            return False
        self.uow.asked.add("jobs")
        return True

    def notify(
        self,
        account_id: int,
        msgid: str,
        *,
        buttons: list[list[tuple[str, str]]] | None = None,
        attachment: Attachment | None = None,
        **params: object,
    ) -> None:
        """A message for another account, rendered in their language and routed as every notice
        is (engine/notices.py: the app they chose or used last, Zalo within its window, else held).
        `buttons`: rows of (label msgid, payload), the labels worded in their language too;
        `attachment`: a stored document sent with it (`Attachment(document_id, filename)`), the
        text as its caption."""
        self.notices.append(Notice(account_id, msgid, params, buttons or [], attachment))

    # The stored event being handled (inbound_event.id): a message held back names it.
    event_row: int | None = None
    # The account's personal data was just erased: nothing more is remembered of this chat.
    forget_me: bool = False

    # A number the person was just told belongs to an earlier question: typed again, it is the answer.
    told: int | None = None
    # The journey position being asked ("tasks.1.when"), set by the runner for a step's `params`.
    position: str | None = None

    @cached_property
    def last_prompt(self) -> tuple[int, dict] | None:
        """(seq, body) of the last question shown in the chat this event came from (the person's
        other apps have their own), read once per event."""
        return self.uow.prompts.last(self.account_id, self.incoming.channel, self.incoming.chat_id)

    @cached_property
    def roles(self) -> list[Row]:
        return self.uow.roles.active_of(self.account_id)

    def forget_roles(self) -> None:
        self.__dict__.pop("roles", None)

    def become(self, sender: Row) -> None:
        """The event is now another account's (its own account was merged into that one): what
        was read of the old one is forgotten."""
        self.sender = sender
        self.forget_roles()
        self.__dict__.pop("last_prompt", None)

    @property
    def role_names(self) -> set[str]:
        return {r.role for r in self.roles}

    @property
    def registered(self) -> bool:
        return bool(self.roles)

    def has_role(self, *roles: Role) -> bool:
        names = self.role_names
        return Role.admin in names or any(r in names for r in roles)
