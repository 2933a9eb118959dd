"""The fuzz tests' driver: events handed to the engine in-process (no socket, no thread), each
in its own transaction as the processor writes them, and the properties checked after each one.

Properties, checked for every event (`Driver.send`):
- no crash: the engine raises nothing and logs nothing at ERROR (the processor's fast path
  runs handlers without a savepoint, so a handler's exception is exactly what escapes here);
- every message answered: a text, a button or a file from anyone (registered or not) gets at
  least one reply in its chat, and no reply is empty;
- nothing stored that was not confirmed: a plan's or a report's version, a commitment or a role
  appears only on the event that pressed (or typed) the summary's confirm button of an open
  journey; answers stay in the conversation's draft until then;
- text kept as typed: the event row holds the text NFC-normalised (without NUL, lone surrogates
  as "?"), and an answer stored in the draft at a free-text step is that text, stripped (a
  name's spaces collapsed).
A broken property raises `Violation` with the event and what was wrong; `Tally` counts.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from chidoan.engine.dispatch import Engine
from chidoan.engine.journey import Kind
from chidoan.engine.messages import Incoming, InFile, clean_text
from chidoan.engine.runner import SUMMARY
from chidoan.engine.typed import buttons_of, match
from chidoan.engine.words import SUBMIT_WORDS
from chidoan.handlers.invites import issue
from chidoan.i18n import fold
from chidoan.storage.conversations import ConversationState
from chidoan.storage.models import (
    Commitment,
    InboundEvent,
    Outbox,
    OutboxKind,
    RegistrationVersion,
    ReportVersion,
    Role,
    RoleAssignment,
)
from chidoan.storage.uow import unit_of_work
from tests.hostile.drive import ErrorRecords

# A fixed "now" (a Friday in the plan season): the same dates mean the same thing on every run.
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
STORED = {
    "registration_version": RegistrationVersion.__table__,
    "report_version": ReportVersion.__table__,
    "commitment": Commitment.__table__,
    "role_assignment": RoleAssignment.__table__,
}
OUTBOX = Outbox.__table__
EVENTS = InboundEvent.__table__
TEXT_KINDS = (Kind.text, Kind.name)


class Violation(AssertionError):
    """A property did not hold for one event."""

    def __init__(self, what: str, tally: Tally | None = None):
        super().__init__(what)
        if tally is not None and len(tally.problems) < 20:  # kept: a replay may not reproduce it
            tally.problems.append(what)


@dataclass
class Tally:
    cases: int = 0  # examples (an input, an update body, a walk)
    events: int = 0  # events handed to the engine
    crashes: int = 0
    unanswered: int = 0
    stored_unconfirmed: int = 0
    altered: int = 0  # text not stored as typed
    submitted: int = 0  # versions stored after a confirmation (the walks do reach the end)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"cases run: {self.cases}; events: {self.events}; crashes: {self.crashes}; "
            f"unanswered: {self.unanswered}; stored-unconfirmed: {self.stored_unconfirmed}; "
            f"text altered: {self.altered}; confirmed submissions: {self.submitted}; time: {self.seconds:.1f} s"
        )


@dataclass
class Outcome:
    incoming: Incoming
    new: bool  # False: a duplicate delivery
    replies: list[dict]
    before: ConversationState | None
    after: ConversationState | None


def kept_as(text: str) -> str:
    """What the door stores for a typed text (engine/messages.clean_text)."""
    return clean_text(text) or ""


class Driver:
    """Sends events as people on a channel and checks the properties after each."""

    def __init__(self, db, engine: Engine, tally: Tally | None = None):
        self.db = db
        self.engine = engine
        self.tally = tally or Tally()
        self.now = NOW
        self._ids = itertools.count(1)
        self._errors = ErrorRecords()

    def __enter__(self) -> Driver:
        logging.getLogger().addHandler(self._errors)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger().removeHandler(self._errors)

    # ---- people -------------------------------------------------------------------------

    def member(self, user: str, unit_code: str, role: Role = Role.secretary, channel: str = "web") -> int:
        with unit_of_work(self.db) as uow:
            sender = uow.accounts.create_with_identity(
                channel=channel,
                external_id=user,
                chat_id=user,
                display_name=None,
                locale="vi",
                now=self.now,
                full_name="Phạm Minh Dũng",
            )
            unit = uow.units.by_code(unit_code)
            uow.roles.grant(account_id=sender.account_id, unit_id=unit.id, role=role, invite_id=None, now=self.now)
            return sender.account_id

    def unit(self, code: str) -> None:
        """A base unit of its own under the district (a walk's: what others did is not in its way)."""
        with unit_of_work(self.db) as uow:
            district = uow.units.by_code("RG")
            uow.units.add(
                code=code, name=f"Đoàn phường {code}", kind="base_unit", parent=district, reviews=False, now=self.now
            )

    def invite(self, unit_code: str, role: Role = Role.secretary) -> str:
        with unit_of_work(self.db) as uow:
            unit = uow.units.by_code(unit_code)
            return issue(uow, unit=unit, role=role, issued_by=None, now=self.now, days=14).code

    def state(self, user: str, channel: str = "web") -> ConversationState | None:
        with unit_of_work(self.db) as uow:
            sender = uow.accounts.sender(channel, user)
            return uow.conversations.active(sender.account_id) if sender else None

    def last_question(self, user: str, channel: str = "web") -> dict | None:
        with unit_of_work(self.db) as uow:
            sender = uow.accounts.sender(channel, user)
            last = uow.prompts.last(sender.account_id, channel, user) if sender else None
            return last[1] if last else None

    def button(self, user: str, action: str, channel: str = "web") -> str | None:
        """The payload of the newest question's button whose action (its last part) is `action`."""
        body = self.last_question(user, channel) or {}
        for _label, payload in buttons_of(body):
            if payload.rpartition(".")[2] == action or payload == action:
                return payload
        return None

    # ---- one event ------------------------------------------------------------------------

    def send(
        self,
        user: str,
        *,
        text: str | None = None,
        payload: str | None = None,
        media: str | None = None,
        file: InFile | None = None,
        channel: str = "web",
        language: str | None = "vi",
        event_id: str | None = None,
    ) -> Outcome:
        """One event from `user` (chat id = user id), handled as the processor does, then checked."""
        self.now += timedelta(seconds=1)
        incoming = Incoming(
            channel=channel,
            event_id=event_id or f"f{next(self._ids)}",
            user_id=user,
            chat_id=user,
            text=text,
            payload=payload,
            media=media,
            file=file,
            language_code=language,
        )
        before, question, counts, last_row = self._look(incoming)
        errors = len(self._errors.records)
        self.tally.events += 1
        try:
            with unit_of_work(self.db) as uow:
                new = self.engine.process(uow, incoming, self.now)
        except Exception as exc:
            self.tally.crashes += 1
            raise Violation(f"crash on {_show(incoming)}: {type(exc).__name__}: {exc}", self.tally) from exc
        if len(self._errors.records) > errors:
            self.tally.crashes += 1
            record = self._errors.records[-1]
            raise Violation(f"logged at ERROR on {_show(incoming)}: {record.getMessage()}", self.tally)
        with unit_of_work(self.db) as uow:  # what the event left, read in one transaction
            outcome = self._outcome(uow, incoming, new, before, last_row)
            stored = self._stored(uow, incoming)
            counted = _counts(uow)
        self._check(outcome, question, counts, counted, stored)
        return outcome

    def _look(self, incoming: Incoming) -> tuple[ConversationState | None, dict | None, dict[str, int], int]:
        with unit_of_work(self.db) as uow:
            sender = uow.accounts.sender(incoming.channel, incoming.user_id)
            state = uow.conversations.from_sender(sender) if sender else None
            last = uow.prompts.last(sender.account_id, incoming.channel, incoming.chat_id) if sender else None
            last_row = uow.conn.execute(select(func.max(OUTBOX.c.id))).scalar() or 0
            return state, (last[1] if last else None), _counts(uow), last_row

    def _outcome(self, uow, incoming: Incoming, new: bool, before, last_row: int) -> Outcome:
        rows = uow.conn.execute(
            select(OUTBOX.c.channel, OUTBOX.c.chat_id, OUTBOX.c.kind, OUTBOX.c.body)
            .where(OUTBOX.c.id > last_row)
            .order_by(OUTBOX.c.id)
        ).all()
        here = [r for r in rows if (r.channel, r.chat_id) == (incoming.channel, incoming.chat_id)]
        stray = [r for r in rows if r.kind == OutboxKind.reply and r not in here]
        if stray:  # a reply is said in the chat the event came from; notices go to other people
            self.tally.crashes += 1
            raise Violation(f"a reply to another chat on {_show(incoming)}: {stray}", self.tally)
        sender = uow.accounts.sender(incoming.channel, incoming.user_id)
        after = uow.conversations.from_sender(sender) if sender else None
        return Outcome(incoming, new, [r.body for r in here], before, after)

    @staticmethod
    def _stored(uow, incoming: Incoming):
        return uow.conn.execute(
            select(EVENTS.c.text, EVENTS.c.payload).where(
                EVENTS.c.channel == incoming.channel, EVENTS.c.event_id == incoming.event_id
            )
        ).first()

    # ---- the properties ---------------------------------------------------------------------

    def _check(
        self, outcome: Outcome, question: dict | None, counts: dict[str, int], now: dict[str, int], stored
    ) -> None:
        incoming = outcome.incoming
        if outcome.new and incoming.fact is None:
            self._answered(outcome)
            self._kept_as_sent(incoming, stored)
        grown = [name for name in now if now[name] != counts[name]]
        if grown:
            if not self._confirms(outcome.before, question, incoming):
                self.tally.stored_unconfirmed += 1
                raise Violation(f"stored without a confirmation on {_show(incoming)}: {grown}", self.tally)
            self.tally.submitted += 1
        self._draft_as_typed(outcome)

    def _answered(self, outcome: Outcome) -> None:
        empty = [r for r in outcome.replies if not (r.get("text") or "").strip() and "document" not in r]
        if not outcome.replies or empty:
            self.tally.unanswered += 1
            raise Violation(f"not answered on {_show(outcome.incoming)}: {outcome.replies}", self.tally)

    def _kept_as_sent(self, incoming: Incoming, row) -> None:
        expected = (kept_as(incoming.text) if incoming.text is not None else None, clean_text(incoming.payload, 256))
        if row is None or (row.text, row.payload) != expected:
            self.tally.altered += 1
            raise Violation(f"event not stored as sent on {_show(incoming)}: {row}", self.tally)

    def _confirms(self, before: ConversationState | None, question: dict | None, incoming: Incoming) -> bool:
        """Whether the event is a press (or the typed words) of the open journey's confirm button:
        the only way a journey's answers leave its draft. A journey without a summary (confirm
        False) completes on its last answer."""
        if before is None:
            return False
        if not self.engine.runner.journeys[before.journey].confirm:
            return True
        if before.step != SUMMARY:
            return False
        ok = f"j:{before.id}.{before.version}.ok"
        if incoming.payload is not None:
            return incoming.payload == ok
        text = clean_text(incoming.text)
        if text is None:
            return False
        if fold(text) in SUBMIT_WORDS:
            return True
        found = match(question, text) if question else None
        return found is not None and found.payload == ok

    def _draft_as_typed(self, outcome: Outcome) -> None:
        """An answer a free-text step took from this text is the text, NFC, stripped."""
        before, after, incoming = outcome.before, outcome.after, outcome.incoming
        if incoming.text is None or before is None or after is None or before.id != after.id:
            return
        if before.step.startswith("@") or before.step.endswith((".more", ".@items")):
            return
        journey = self.engine.runner.journeys[before.journey]
        step = self.engine.runner._step_at(journey, before.step)
        if step.kind not in TEXT_KINDS or step.suggest is not None:
            return
        old, new = _answer(before, before.step, step.key), _answer(after, before.step, step.key)
        if new == old or new is None:
            return
        typed = kept_as(incoming.text).strip()
        allowed = {typed, " ".join(typed.split())}
        doubt = before.data.get("doubt")
        if doubt is not None:  # "keep as typed", typed: the answer doubted before
            allowed.add(doubt["value"])
        if new not in allowed:
            self.tally.altered += 1
            raise Violation(f"answer stored as {new!r}, not as typed, on {_show(incoming)}", self.tally)


_NEWEST = select(*(select(func.max(t.c.id)).scalar_subquery().label(name) for name, t in STORED.items()))


def _counts(uow) -> dict[str, int]:
    """The newest row of each table of confirmed things (rows are added, never removed, there)."""
    return {name: value or 0 for name, value in uow.conn.execute(_NEWEST).one()._mapping.items()}


def _answer(state: ConversationState, position: str, key: str) -> Any:
    """The answer at a position (a top-level step, or a repeat item's sub-step)."""
    parts = position.split(".")
    answers = state.data.get("a", {})
    if len(parts) == 3:
        items = answers.get(parts[0]) or []
        index = int(parts[1])
        return items[index].get(key) if index < len(items) else None
    return answers.get(key)


def _show(incoming: Incoming) -> str:
    what = incoming.payload if incoming.payload is not None else incoming.text
    shown = repr(what if what is None or len(what) <= 80 else what[:80] + "…")
    return f"{incoming.kind} {shown} from {incoming.user_id}"


class Timer:
    def __init__(self, tally: Tally):
        self.tally = tally

    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.tally.seconds += time.perf_counter() - self.started
