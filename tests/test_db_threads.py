"""The Processor's database threads: on PostgreSQL a chat's events keep their order on a lane of
their own while other chats' events and `run`'s work go on beside a slow one; SQLite keeps one
thread for everything."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import select

from chidoan.bot.processor import Processor
from chidoan.engine.messages import Incoming
from chidoan.handlers import build_engine
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import InboundEvent
from tests.conftest import make_settings, seed_org

WAIT = 30.0  # seconds a test waits for what the machine's speed decides


class Slow:
    """Holds the slow chat's event on its thread from `entered` until `release` (no timing)."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def hold(self) -> None:
        self.entered.set()
        self.release.wait(WAIT * 2)


def _watched(engine, slow_user: str | None = None, slow: Slow | None = None):
    """The engine's `process`, recording which thread handled which event, in order; the slow
    user's events hold their thread (see Slow)."""
    seen: list[tuple[str, str, str]] = []
    real = engine.process

    def process(uow, incoming, now, isolate=False):
        seen.append((incoming.user_id, incoming.event_id, threading.current_thread().name))
        if incoming.user_id == slow_user and slow is not None:
            slow.hold()
        return real(uow, incoming, now, isolate=isolate)

    engine.process = process
    return seen


async def until(check, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not met within {timeout} s"
        await asyncio.sleep(0.01)


@pytest.mark.postgres
async def test_postgresql_lanes_keep_each_chats_order_and_do_not_wait_for_each_other(pg_url):
    settings = make_settings(pg_url, CHIDOAN_DB_THREADS="4")
    db = make_db(pg_url)
    upgrade(db)
    seed_org(db)
    engine = build_engine(settings)
    held = Slow()
    seen = _watched(engine, slow_user="slow", slow=held)
    processor = Processor(db, engine)
    assert processor.threads == 4
    await processor.start()
    try:
        first = Incoming("web", "s1", "slow", "slow", text="/start")
        slow = asyncio.ensure_future(processor.submit(first))
        await until(held.entered.is_set)  # the slow chat's event is on its thread now
        # Three messages each from the people on the other lanes, all at once.
        users = [f"u{i}" for i in range(16)]
        others = [u for u in users if processor.lane(Incoming("web", "x", u, u)) != processor.lane(first)]
        sent = [
            processor.submit(Incoming("web", f"{u}-{n}", u, u, text=f"message {n}")) for n in range(3) for u in others
        ]
        ran = await asyncio.wait_for(
            asyncio.gather(*sent, processor.run(lambda uow: uow.accounts.sender("web", "slow"))), WAIT
        )
        assert all(r is True for r in ran[:-1])
        assert not slow.done(), "other chats waited behind the slow one"  # it is held till released
        held.release.set()
        assert await slow is True
    finally:
        held.release.set()
        await processor.stop()
    threads = {name for _user, _event, name in seen}
    assert len(threads) >= 2, threads
    for user in others:
        mine = [(event, name) for u, event, name in seen if u == user]
        assert [event for event, _ in mine] == [f"{user}-{n}" for n in range(3)]  # in the order sent
        assert len({name for _, name in mine}) == 1  # always the same lane
    with db.connect() as conn:
        stored = set(conn.scalars(select(InboundEvent.__table__.c.event_id)))
    assert stored == {"s1", *(f"{u}-{n}" for u in others for n in range(3))}
    db.dispose()


@pytest.mark.sqlite_only("it is about SQLite")
async def test_sqlite_keeps_one_thread_whatever_the_setting(settings, db, org):
    chosen = make_settings(settings.database_url, CHIDOAN_DB_THREADS="4")
    engine = build_engine(chosen)
    seen = _watched(engine)
    processor = Processor(db, engine)
    assert processor.threads == 1
    await processor.start()
    try:
        results = await asyncio.gather(
            *(processor.submit(Incoming("web", f"e{i}", f"u{i}", f"u{i}", text="/start")) for i in range(8))
        )
        on = await processor.run(lambda uow: threading.current_thread().name)
    finally:
        await processor.stop()
    assert results == [True] * 8
    assert {name for _user, _event, name in seen} == {on}  # batches and `run` on the one thread


def _asking(engine, renders: list[str], *, fail_ahead: bool = False, rendered: threading.Event | None = None):
    """`process` as a handler that asks for a document would: event "doc" renders one first,
    slowly (until `rendered` is set, if given)."""
    real = engine.process
    order: list[str] = []

    def render(text: str) -> bytes:
        renders.append(threading.current_thread().name)
        if fail_ahead and threading.current_thread().name.startswith("chidoan-render"):
            raise RuntimeError("the template is broken")
        if rendered is not None:
            rendered.wait(WAIT)
        else:
            time.sleep(0.5)
        return text.encode()

    def process(uow, incoming, now, isolate=False):
        if incoming.event_id == "doc":
            assert engine.renders.get(render, "plan") == b"plan"
        order.append(incoming.event_id)
        return real(uow, incoming, now, isolate=isolate)

    engine.process = process
    return order


@pytest.mark.sqlite_only(
    "SQLite's one database thread (chidoan-db_0); PostgreSQL's lanes are tested in test_db_threads' own test"
)
async def test_a_chat_waits_for_its_document_while_other_chats_go_on(settings, db, org):
    engine = build_engine(settings)
    renders: list[str] = []
    rendered = threading.Event()  # the document is rendered once b is done: b must not wait for it
    order = _asking(engine, renders, rendered=rendered)
    processor = Processor(db, engine)
    await processor.start()
    finished: list[str] = []

    async def send(event: str, user: str) -> None:
        assert await processor.submit(Incoming("web", event, user, user, text="/start")) is True
        finished.append(event)
        if event == "b":
            rendered.set()

    try:
        await asyncio.gather(send("doc", "a"), send("a-after", "a"), send("b", "b"))
        on = await processor.run(lambda uow: threading.current_thread().name)
    finally:
        rendered.set()
        await processor.stop()
    assert renders == ["chidoan-render_0"]  # rendered once, ahead, off the database thread
    assert on == "chidoan-db_0"
    assert finished.index("b") < finished.index("doc") < finished.index("a-after")  # b did not wait
    written = [e for e in order if e in ("doc", "a-after")]
    assert written[-2:] == ["doc", "a-after"]  # the chat's order kept
    assert set(stored(db)) == {"doc", "a-after", "b"}


@pytest.mark.sqlite_only(
    "SQLite's one database thread (chidoan-db_0); PostgreSQL's lanes are tested in test_db_threads' own test"
)
async def test_a_document_that_fails_ahead_is_rendered_in_line(settings, db, org):
    engine = build_engine(settings)
    renders: list[str] = []
    _asking(engine, renders, fail_ahead=True)
    processor = Processor(db, engine)
    await processor.start()
    try:
        assert await processor.submit(Incoming("web", "doc", "a", "a", text="/start")) is True
    finally:
        await processor.stop()
    assert renders == ["chidoan-render_0", "chidoan-db_0"]
    assert set(stored(db)) == {"doc"}


def stored(db) -> set[str]:
    with db.connect() as conn:
        return set(conn.scalars(select(InboundEvent.__table__.c.event_id)))
