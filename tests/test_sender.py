"""The outbox sender: paced per chat without holding other chats up, nothing sent twice, and a
stop in the middle of a round records what went out (a restart does not send it again)."""

import asyncio
import logging
import time
from datetime import UTC, datetime

from sqlalchemy import select

from chidoan.bot.channels.base import Limits, NotReachableNow
from chidoan.bot.outage import Outage
from chidoan.bot.processor import Processor
from chidoan.bot.sender import Sender
from chidoan.engine.messages import Outgoing
from chidoan.handlers import build_engine
from chidoan.storage.db import make_db
from chidoan.storage.models import Outbox, OutboxStatus
from chidoan.storage.uow import unit_of_work
from tests.conftest import free_port


class Recording:
    name = "telegram"

    def __init__(self, limits: Limits, delay: float = 0.0):
        self.limits = limits
        self.delay = delay
        self.sent: list[tuple[str, str, float]] = []

    async def send(self, chat_id: str, message: Outgoing) -> None:
        await asyncio.sleep(self.delay)
        self.sent.append((chat_id, message.text, time.monotonic()))


def queue(db, chat_id: str, texts: list[str]) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "channel": "telegram",
            "chat_id": chat_id,
            "account_id": None,
            "body": {"text": t},
            "status": "pending",
            "attempts": 0,
            "not_before": now,
            "created_at": now,
            "dedupe_key": None,
            "sent_at": None,
            "error": None,
        }
        for t in texts
    ]
    with unit_of_work(db) as uow:
        uow.outbox.add_many(rows)


def own_processor(settings) -> Processor:
    """The processor's own connection: the test reads through `db` while it runs."""
    return Processor(make_db(settings.database_url), build_engine(settings))


def statuses(db) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(select(Outbox.__table__.c.status).order_by(Outbox.__table__.c.id)).scalars())


async def test_a_busy_chat_is_paced_without_holding_others_up(settings, db):
    processor = own_processor(settings)
    await processor.start()
    channel = Recording(Limits(per_second=30, burst=30, per_chat_per_second=5, per_chat_burst=3))
    sender = Sender(processor, {"telegram": channel})
    queue(db, "district", [f"notice {i}" for i in range(12)])
    queue(db, "secretary", ["your reply"])
    began = time.monotonic()
    await sender.start()
    try:
        for _ in range(200):
            if statuses(db).count(OutboxStatus.sent) == 13:
                break
            await asyncio.sleep(0.05)
    finally:
        await sender.stop()
        await processor.stop()
    assert statuses(db).count(OutboxStatus.sent) == 13
    texts = [t for chat, t, _ in channel.sent if chat == "district"]
    assert texts == [f"notice {i}" for i in range(12)]  # each once, in order
    reply_at = next(at for chat, _t, at in channel.sent if chat == "secretary")
    assert reply_at - began < 0.5  # not behind the twelve notices
    district = [at for chat, _t, at in channel.sent if chat == "district"]
    assert district[-1] - district[3] >= (12 - 4) / 5 * 0.9  # after the burst, 5 a second


async def test_stopping_mid_round_records_what_was_sent(settings, db):
    queue(db, "chat", [f"m{i}" for i in range(5)])
    channel = Recording(Limits(), delay=0.05)
    processor = own_processor(settings)
    await processor.start()
    sender = Sender(processor, {"telegram": channel})
    await sender.start()
    await asyncio.sleep(0.12)  # the round is under way
    await sender.stop()
    first = len(channel.sent)
    assert first > 0
    assert statuses(db).count(OutboxStatus.sent) == first  # nothing sent goes unrecorded
    restarted = Sender(processor, {"telegram": channel})
    while await restarted.drain_once():
        pass
    await processor.stop()
    assert [t for _c, t, _a in channel.sent] == [f"m{i}" for i in range(5)]  # none twice


class OutOfWindow(Recording):
    """Refuses the chat "gone-quiet" for now (Zalo's -230), delivers the others."""

    async def send(self, chat_id: str, message: Outgoing) -> None:
        if chat_id == "gone-quiet":
            self.sent.append((chat_id, "refused", time.monotonic()))
            raise NotReachableNow("zalo -230: no interaction within 7 days")
        await super().send(chat_id, message)


async def test_not_reachable_for_now_holds_the_chat_without_retrying(settings, db):
    with unit_of_work(db) as uow:
        uow.accounts.create_with_identity(
            channel="telegram",
            external_id="gone-quiet",
            chat_id="gone-quiet",
            display_name=None,
            locale="vi",
            now=datetime.now(UTC),
        )
    queue(db, "gone-quiet", ["first", "second"])
    queue(db, "other", ["hello"])
    channel = OutOfWindow(Limits())
    processor = own_processor(settings)
    await processor.start()
    sender = Sender(processor, {"telegram": channel})
    try:
        while await sender.drain_once():
            pass
        assert await sender.drain_once() == 0  # nothing due again: held, not retried
    finally:
        await processor.stop()
    assert statuses(db) == [OutboxStatus.held, OutboxStatus.held, OutboxStatus.sent]
    assert [c for c, _t, _a in channel.sent] == ["gone-quiet", "other"]  # tried once
    with unit_of_work(db) as uow:
        identity = uow.accounts.sender("telegram", "gone-quiet")
        assert not identity.reachable  # until they write again (the engine makes them reachable)


async def test_with_the_database_down_each_lane_logs_once_then_once_a_period(settings, caplog):
    """PostgreSQL at a closed loopback port: the rounds keep failing (every 50 ms here); the log
    has one traceback per lane, not one per round; then a line a period, and one when it works."""
    url = f"postgresql+psycopg://chidoan@127.0.0.1:{free_port()}/chidoan?connect_timeout=2"
    processor = Processor(make_db(url), build_engine(settings))
    await processor.start()
    sender = Sender(processor, {"telegram": Recording(Limits())}, idle=0.05)
    caplog.set_level(logging.INFO, logger="chidoan.bot.sender")
    await sender.start()
    await asyncio.sleep(2.5)
    failures = [lane.outage.failures for lane in sender.lanes]
    await sender.stop()
    await processor.stop()
    lines = [r for r in caplog.records if r.name == "chidoan.bot.sender"]
    print(f"rounds failed per lane in 2.5 s: {failures}; log lines: {len(lines)}")
    assert min(failures) >= 5  # retried all along
    assert len(lines) == len(sender.lanes) and all(r.exc_info and r.levelname == "ERROR" for r in lines)


def test_an_outage_is_told_at_its_start_once_a_period_and_at_its_end(caplog):
    now = [0.0]
    outage = Outage(logging.getLogger("test.outage"), "the thing", every=60, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="test.outage")
    for _ in range(130):  # two minutes of failures, one a second
        outage.failed(OSError("connection refused"))
        now[0] += 1
    outage.worked()
    outage.worked()  # nothing more to say
    assert [(r.levelname, r.getMessage(), bool(r.exc_info)) for r in caplog.records] == [
        ("ERROR", "the thing failed", True),
        ("ERROR", "the thing still failing: 61 times in 60 s, the last: OSError: connection refused", False),
        ("ERROR", "the thing still failing: 121 times in 120 s, the last: OSError: connection refused", False),
        ("WARNING", "the thing works again, after 130 failures in 130 s", False),
    ]
