"""The outbox sender: paced per chat without holding other chats up, nothing sent twice, and a
stop in the middle of a round records what went out (a restart does not send it again)."""

import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy import select

from chidoan.bot.channels.base import Limits, NotReachableNow
from chidoan.bot.processor import Processor
from chidoan.bot.sender import Sender
from chidoan.engine.messages import Outgoing
from chidoan.handlers import build_engine
from chidoan.storage.db import make_db
from chidoan.storage.models import Outbox, OutboxStatus
from chidoan.storage.uow import unit_of_work


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
