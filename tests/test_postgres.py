"""The PostgreSQL path against the real local server: the same journeys, and several workers
sharing one database (conversation races, outbox claimed once)."""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from chidoan.bot.app import App
from chidoan.bot.channels.base import Limits
from chidoan.bot.processor import Processor
from chidoan.bot.sender import Sender
from chidoan.engine.messages import Incoming, Outgoing
from chidoan.handlers import build_engine
from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import Outbox, OutboxStatus
from chidoan.storage.uow import unit_of_work
from tests.conftest import WebUser, make_settings, new_invite, seed_org

pytestmark = pytest.mark.postgres


async def test_onboarding_and_duplicates_on_postgresql(pg_url):
    settings = make_settings(pg_url)
    app = App(settings)
    seed_org(app.db)
    code = new_invite(app.db, "RG-VB")
    await app.start()
    try:
        async with WebUser(app, "pg-user", language="en") as user:
            await user.say(code)
            await user.send_frame({"type": "text", "text": "Ngô Bảo Châu", "id": "pg-evt"})
            again = await user.send_frame({"type": "text", "text": "Ngô Bảo Châu", "id": "pg-evt"})
            assert again == []
            await user.say("Bí thư")
            await user.press("Confirm")
            assert "You are now Secretary of Đoàn phường Vĩnh Bảo" in user.text
    finally:
        await app.stop()
    engine = make_db(pg_url)
    with unit_of_work(engine) as uow:
        sender = uow.accounts.sender("web", "pg-user")
        assert uow.accounts.get(sender.account_id).full_name == "Ngô Bảo Châu"
        assert [r.code for r in uow.roles.active_of(sender.account_id)] == ["RG-VB"]
    engine.dispose()


async def test_two_workers_race_on_one_conversation(pg_url):
    """Two processes answer the same person at the same moment: the version check makes one
    retry, so both answers land in order and none is lost."""
    settings = make_settings(pg_url)
    db1, db2 = make_db(pg_url), make_db(pg_url)
    upgrade(db1)
    seed_org(db1)
    code = new_invite(db1, "RG-VB")
    workers = [Processor(db1, build_engine(settings)), Processor(db2, build_engine(settings))]
    for w in workers:
        await w.start()
    try:
        await workers[0].submit(Incoming("web", "e1", "racer", "racer", text=code, language_code="en"))
        # Name and a duplicate of it, to both workers at once.
        results = await asyncio.gather(
            workers[0].submit(Incoming("web", "e2", "racer", "racer", text="Hồ Văn Đua", language_code="en")),
            workers[1].submit(Incoming("web", "e2", "racer", "racer", text="Hồ Văn Đua", language_code="en")),
        )
        assert sorted(results) == [False, True]
        await asyncio.gather(
            workers[0].submit(Incoming("web", "e3", "racer", "racer", text="Bí thư", language_code="en")),
            workers[1].submit(Incoming("web", "e4", "racer", "racer", text="/toi", language_code="en")),
        )
    finally:
        for w in workers:
            await w.stop()
    with unit_of_work(db1) as uow:
        state = uow.conversations.active(uow.accounts.sender("web", "racer").account_id)
        assert state.step == "@summary"
        assert state.data["a"] == {"full_name": "Hồ Văn Đua", "position": "Bí thư"}
    db1.dispose()
    db2.dispose()


class RecordingChannel:
    name = "web"
    limits = Limits()

    def __init__(self):
        self.sent: list[str] = []

    async def send(self, chat_id: str, message: Outgoing) -> None:
        await asyncio.sleep(0.001)
        self.sent.append(message.text)


async def test_two_senders_never_send_a_row_twice(pg_url):
    settings = make_settings(pg_url)
    dbs = [make_db(pg_url), make_db(pg_url)]
    upgrade(dbs[0])
    now = datetime.now(UTC)
    rows = [
        {
            "channel": "web",
            "chat_id": f"c{i % 40}",
            "account_id": None,
            "body": {"text": f"m{i}"},
            "status": "pending",
            "attempts": 0,
            "not_before": now,
            "created_at": now,
            "dedupe_key": None,
            "sent_at": None,
            "error": None,
        }
        for i in range(400)
    ]
    with unit_of_work(dbs[0]) as uow:
        uow.outbox.add_many(rows)
    channel = RecordingChannel()
    processors = [Processor(db, build_engine(settings)) for db in dbs]
    senders = [Sender(p, {"web": channel}, batch=30) for p in processors]

    async def drain(sender):
        while await sender.drain_once():
            pass

    await asyncio.gather(*(drain(s) for s in senders))
    for p in processors:
        await p.stop()
    assert sorted(channel.sent, key=lambda t: int(t[1:])) == [f"m{i}" for i in range(400)]
    with dbs[0].connect() as conn:
        statuses = conn.execute(select(Outbox.__table__.c.status)).scalars().all()
    assert statuses.count(OutboxStatus.sent) == 400
    for db in dbs:
        db.dispose()


def test_a_stale_conversation_write_is_refused(pg_url):
    from chidoan.storage.conversations import ConcurrentUpdate

    engine = make_db(pg_url)
    upgrade(engine)
    now = datetime.now(UTC)
    with unit_of_work(engine) as uow:
        sender = uow.accounts.create_with_identity(
            channel="web", external_id="v", chat_id="v", display_name=None, locale="vi", now=now
        )
        uow.conversations.start(sender.account_id, "onboarding", "full_name", {"a": {}}, now)
    with unit_of_work(engine) as first, unit_of_work(engine) as second:
        a = first.conversations.active(sender.account_id)
        b = second.conversations.active(sender.account_id)
        a.step = "position"
        first.conversations.save(a, now)
        first.conn.commit()
        b.step = "@summary"
        with pytest.raises(ConcurrentUpdate):
            second.conversations.save(b, now)
    with unit_of_work(engine) as uow:
        assert uow.conversations.active(sender.account_id).step == "position"
    engine.dispose()
