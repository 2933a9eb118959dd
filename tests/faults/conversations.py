"""Scripted conversations for the fault tests: each person joins with an invite code (the
registration journey: code, full name, position, confirm), one unit each, so nobody hands over to
anybody. What each step must answer, and what the database must hold afterwards, is checked
here: every answer stored once, the conversation at its step, each reply queued once."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from chidoan.handlers.invites import issue
from chidoan.storage.models import Account, ChannelIdentity, Conversation, InboundEvent, Outbox, OutboxStatus
from chidoan.storage.uow import unit_of_work
from tests.conftest import seed_org
from tests.fake_telegram import FakeTelegram

FIRST_USER = 700_000
NAME = "Nguyễn Văn An"
POSITION = "Bí thư"
# Per step: what the person sends (after the code), how many replies it queues, how the last one
# starts, and the journey's step the conversation is at afterwards (None: finished).
STEPS = (
    ("{code}", 2, "Họ và tên của đồng chí?", "full_name"),
    (NAME, 1, "Chức vụ của đồng chí?", "position"),
    (POSITION, 1, "Vui lòng kiểm tra lại", "@summary"),
    ("xác nhận", 1, "Hoàn tất!", None),
)
REPLIES = sum(step[1] for step in STEPS)
OUT, EVENT, CONV = Outbox.__table__, InboundEvent.__table__, Conversation.__table__
IDENT, ACCOUNT = ChannelIdentity.__table__, Account.__table__


@dataclass
class Person:
    user_id: int
    code: str
    done: int = 0  # steps acknowledged by the bot

    def update(self, tg: FakeTelegram, step: int) -> dict:
        text = STEPS[step][0].format(code=f"/start {self.code}")
        return tg.message_update(self.user_id, text, first_name="An", last_name="Nguyễn", language_code="vi")


def enrol(db, count: int) -> list[Person]:
    """`count` branch units under one base unit, an invite code for the secretary of each."""
    seed_org(db)
    now = datetime.now(UTC)
    people = []
    with unit_of_work(db) as uow:
        parent = uow.units.by_code("RG-VB")
        for n in range(count):
            unit = uow.units.add(
                code=f"F-{n:04d}", name=f"Chi đoàn thử {n}", kind="branch", parent=parent, reviews=False, now=now
            )
            code = issue(uow, unit=unit, role="secretary", issued_by=None, now=now, days=14).code
            people.append(Person(FIRST_USER + n, code))
    return people


def replies_of(db, user_id: int) -> list:
    with db.connect() as conn:
        return list(
            conn.execute(
                select(OUT.c.body, OUT.c.status)
                .where(OUT.c.channel == "telegram", OUT.c.chat_id == str(user_id))
                .order_by(OUT.c.id)
            )
        )


def check_step(db, person: Person, step: int) -> None:
    """Once step `step` is acknowledged: exactly its replies queued so far, the last one the
    question of the next step (the conversation went on from where it was, once)."""
    rows = replies_of(db, person.user_id)
    expected = sum(s[1] for s in STEPS[: step + 1])
    assert len(rows) == expected, f"{person.user_id} step {step}: {len(rows)} replies, expected {expected}: {rows}"
    assert rows[-1].body["text"].startswith(STEPS[step][2]), (person.user_id, step, rows[-1].body["text"])


def conversation_steps(db) -> dict[int, tuple[str, str]]:
    """Per person: (journey step, status) of their registration conversation."""
    with db.connect() as conn:
        found = conn.execute(
            select(IDENT.c.external_id, CONV.c.step, CONV.c.status)
            .join(CONV, CONV.c.account_id == IDENT.c.account_id)
            .where(IDENT.c.channel == "telegram")
        )
        return {int(r.external_id): (r.step, r.status) for r in found}


def answers_stored(db) -> int:
    """People whose full name and position are on their account."""
    with db.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(ACCOUNT.join(IDENT, IDENT.c.account_id == ACCOUNT.c.id))
            .where(IDENT.c.channel == "telegram", ACCOUNT.c.full_name == NAME, ACCOUNT.c.position == POSITION)
        ).scalar_one()


def event_counts(db) -> tuple[int, int]:
    """(stored events, distinct update ids among them)."""
    with db.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(EVENT)).scalar_one(),
            conn.execute(select(func.count(EVENT.c.event_id.distinct()))).scalar_one(),
        )


def pending_replies(db) -> int:
    with db.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(OUT).where(OUT.c.status == OutboxStatus.pending)
        ).scalar_one()


def outbox_rows(db) -> int:
    with db.connect() as conn:
        return conn.execute(select(func.count()).select_from(OUT)).scalar_one()


def lost_answers(db, conversations: int) -> int:
    """Conversations whose answers are not on the person's account."""
    return conversations - answers_stored(db)


def duplicate_rows(db, conversations: int) -> int:
    """Updates stored more than once plus replies queued beyond the script's (0: each once)."""
    events, distinct = event_counts(db)
    return events - distinct + outbox_rows(db) - REPLIES * conversations


async def until_sent(db, within: float, began: float | None = None) -> float:
    """Wait until no reply is pending, at most `within` seconds after `began` (a time.monotonic(),
    now if not given); the seconds from `began` to then."""
    began = time.monotonic() if began is None else began
    while waiting := pending_replies(db):
        assert time.monotonic() - began < within, f"{waiting} replies still pending after {within:.0f} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - began


def received(tg: FakeTelegram) -> dict[int, list[str]]:
    """Per chat, the texts the fake accepted (what the person's phone shows), in order."""
    found: dict[int, list[str]] = {}
    for call in tg.calls_of("sendMessage"):
        if call.status == 200:
            found.setdefault(int(call.params["chat_id"]), []).append(call.params["text"])
    return found


def duplicate_replies(db, tg: FakeTelegram, people: list[Person]) -> int:
    """Messages a person received more often than the outbox queued them."""
    got = received(tg)
    extra = 0
    for person in people:
        queued = [r.body["text"] for r in replies_of(db, person.user_id)]
        for text, copies in _counts(got.get(person.user_id, [])).items():
            extra += max(0, copies - queued.count(text))
    return extra


def _counts(texts: list[str]) -> dict[str, int]:
    return {text: len(list(group)) for text, group in itertools.groupby(sorted(texts))}


def check_whole(db, people: list[Person]) -> int:
    """Each person's stored answers, replies and conversation agree (an update's effects are all
    there or none): after k stored updates, exactly the replies of k steps and the step k leads
    to. Read while updates are refused, whatever was acknowledged; returns how many were seen
    mid-way (some of their updates stored)."""
    with db.connect() as conn:
        stored = dict(
            conn.execute(
                select(IDENT.c.external_id, func.count(EVENT.c.id))
                .join(EVENT, EVENT.c.account_id == IDENT.c.account_id)
                .where(IDENT.c.channel == "telegram")
                .group_by(IDENT.c.external_id)
            ).all()
        )
    states = conversation_steps(db)
    midway = 0
    for person in people:
        k = stored.get(str(person.user_id), 0)
        rows = replies_of(db, person.user_id)
        assert len(rows) == sum(s[1] for s in STEPS[:k]), (person.user_id, k, len(rows))
        if k == 0:
            assert person.user_id not in states
            continue
        want = STEPS[k - 1][3]
        step, status = states[person.user_id]
        assert (step, status) == (want, "active") if want else status == "completed", (person.user_id, k, step)
        midway += 0 < k < len(STEPS)
    return midway


def check_states(db, people: list[Person]) -> int:
    """Each person's conversation is at the step their last acknowledged answer leads to (or
    finished after the last); returns how many were checked."""
    states = conversation_steps(db)
    for person in people:
        if person.done == 0:
            assert person.user_id not in states, (person.user_id, states.get(person.user_id))
            continue
        step, status = states[person.user_id]
        want = STEPS[person.done - 1][3]
        if want is None:
            assert status == "completed", (person.user_id, step, status)
        else:
            assert (step, status) == (want, "active"), (person.user_id, person.done, step, status)
    return len(people)


IN_FLIGHT = re.compile(r"outbox rows \[([\d, ]+)\] were in flight")


def in_flight(logs: str) -> set[int]:
    """Outbox rows a sender found with its before-send intent and no outcome (their sender died
    or lost its database mid-send), from the workers' log lines: those may be sent again."""
    return {int(i) for found in IN_FLIGHT.findall(logs) for i in found.split(",")}


class Lines(logging.Handler):
    """The log lines of a logger in this process, kept while the block runs (an App in the test)."""

    def __init__(self, name: str):
        super().__init__(logging.WARNING)
        self.logger = logging.getLogger(name)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> Lines:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def unexplained_resends(db, tg: FakeTelegram, people: list[Person], flight: set[int]) -> int:
    """Copies beyond the queued ones of messages none of whose rows was in flight."""
    got = received(tg)
    extra = 0
    for person in people:
        with db.connect() as conn:
            rows = list(
                conn.execute(
                    select(OUT.c.id, OUT.c.body).where(
                        OUT.c.channel == "telegram", OUT.c.chat_id == str(person.user_id)
                    )
                )
            )
        for text, copies in _counts(got.get(person.user_id, [])).items():
            ids = [r.id for r in rows if r.body["text"] == text]
            if copies > len(ids) and not flight & set(ids):
                extra += copies - len(ids)
    return extra
