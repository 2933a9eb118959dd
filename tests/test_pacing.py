"""Pacing and priorities in the sender: the pacer alone never exceeds a limit in any second and
keeps near it; a reply queued during a season goes within about a second; order per (chat,
priority); and through the real TelegramChannel against the fake Bot API: 429, 403 and 5xx."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from chidoan.bot.channels.base import Host, Limits
from chidoan.bot.channels.telegram import TelegramChannel
from chidoan.bot.pacing import Pacer
from chidoan.bot.sender import MAX_ATTEMPTS, Sender
from chidoan.engine.dispatch import outbox_row
from chidoan.engine.messages import Outgoing
from chidoan.storage.models import Outbox, OutboxKind, OutboxStatus, Priority
from chidoan.storage.uow import unit_of_work
from tests.conftest import make_settings
from tests.fake_telegram import FakeTelegram
from tests.test_sender import Recording, own_processor, record_slots

OUT = Outbox.__table__


def queue(db, chat_id: str, texts: list[str], priority: int = Priority.reply) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)  # due for a sender whose clock stands still
    kind = OutboxKind.reply if priority == Priority.reply else OutboxKind.notice
    rows = [outbox_row("telegram", chat_id, None, Outgoing(t), now, kind, priority=priority) for t in texts]
    with unit_of_work(db) as uow:
        uow.outbox.add_many(rows)


def outbox(db) -> list:
    with db.connect() as conn:
        return list(conn.execute(select(OUT).order_by(OUT.c.id)))


def most_in_a_second(times: list[float]) -> int:
    """The most sends within any sliding second [t, t + 1)."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


# ---- the pacer alone --------------------------------------------------------------------


async def season(pacer: Pacer, seconds: float, round_size: int, priority: int = Priority.bulk) -> list[float]:
    """Rounds of `round_size` sends to new chats, as the sender's bulk lane makes them, for
    `seconds`; returns when each send was let go."""
    sent: list[float] = []
    chats = iter(range(1_000_000))
    end = time.monotonic() + seconds

    async def one() -> None:
        if await pacer.take("telegram", str(next(chats)), priority) == 0:
            sent.append(time.monotonic())

    while time.monotonic() < end:
        await asyncio.gather(*(one() for _ in range(round_size)))
        await asyncio.sleep(0.003)  # the round's records and the next claim
    return sent


async def test_the_pacer_never_exceeds_the_limit_in_any_second_and_keeps_near_it():
    pacer = Pacer(lambda _name: Limits(per_second=40, per_chat_per_second=1, per_chat_burst=3))
    sent = await season(pacer, 3.0, round_size=40)
    assert most_in_a_second(sent) <= 40
    rate = (len(sent) - 1) / (max(sent) - min(sent))
    # A floor with headroom for a loaded machine; bench/reminders.py measures the real share (98.5 %).
    assert rate >= 0.8 * 40, rate


async def test_a_reply_takes_the_next_slot_before_a_waiting_season():
    pacer = Pacer(lambda _name: Limits(per_second=20, per_chat_per_second=1, per_chat_burst=3))
    bulk = asyncio.create_task(season(pacer, 1.5, round_size=20))
    await asyncio.sleep(0.5)  # every slot of the coming second is wanted by the season
    asked = time.monotonic()
    assert await pacer.take("telegram", "secretary", Priority.reply) == 0
    replied = time.monotonic()
    sent = await bulk
    # Counted, not timed (was <= 2 slots + 10 ms): the slot under way, at most, then its own.
    assert sum(1 for t in sent if asked < t < replied) <= 1
    assert most_in_a_second([*sent, replied]) <= 20


async def test_a_chat_gets_its_burst_then_one_a_second_and_a_later_turn_is_not_waited_for():
    pacer = Pacer(lambda _name: Limits(per_chat_per_second=1, per_chat_burst=3), max_wait=0.5)
    began = time.monotonic()
    assert [await pacer.take("telegram", "chat", Priority.reply) for _ in range(3)] == [0, 0, 0]
    assert time.monotonic() - began < 0.5  # the burst of three, without a wait
    off = await pacer.take("telegram", "chat", Priority.reply)
    assert 1.0 - (time.monotonic() - began) <= off <= 1.0  # put off till a second after the first
    assert time.monotonic() - began < 0.5  # without waiting for it (that would be 1 s)
    assert await pacer.take("telegram", "other", Priority.reply) == 0


# ---- the sender ---------------------------------------------------------------------------


async def until(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "not met in time"
        await asyncio.sleep(0.02)
    return result


async def test_a_reply_queued_during_a_season_goes_within_about_a_second(settings, db):
    channel = Recording(Limits(per_second=50, per_chat_per_second=1, per_chat_burst=3))
    processor = own_processor(settings)
    await processor.start()
    sender = Sender(processor, {"telegram": channel})
    slots = record_slots(sender.pacer)
    for i in range(300):
        queue(db, f"member{i}", [f"reminder {i}"], Priority.bulk)
    await sender.start()
    try:
        await until(lambda: len(channel.sent) >= 100)  # the season is under way
        queue(db, "secretary", ["the answer to your last message"])
        before = len(channel.sent)
        sender.wake()  # as the processor's commit does
        await until(lambda: any(chat == "secretary" for chat, _t, _a in channel.sent))
        between = [chat for chat, _t, _a in channel.sent].index("secretary") - before
        # Counted, not timed (was < 0.3 s): a few slots, not the round under way (50 sends).
        assert between < 25, between
        assert sum(1 for chat, _t, _a in channel.sent if chat.startswith("member")) < 260  # not after the season
        await until(lambda: len(channel.sent) == 301)
    finally:
        await sender.stop()
        await processor.stop()
    reminders = [t for chat, t, _a in channel.sent if chat.startswith("member")]
    assert sorted(reminders) == sorted(f"reminder {i}" for i in range(300))  # each once
    assert len(slots) == len(channel.sent)
    # As the pacer let each send go (see record_slots); times after a send's commit bunch up on a slow machine.
    assert most_in_a_second([at for _c, at in slots]) <= 50 + 1
    assert {r.status for r in outbox(db)} == {OutboxStatus.sent}


class FailsOnce(Recording):
    """Fails the first try of the texts in `flaky` (a network error), delivers the rest."""

    def __init__(self, limits: Limits, flaky: set[str]):
        super().__init__(limits)
        self.flaky = flaky

    async def send(self, chat_id: str, message: Outgoing) -> None:
        if message.text in self.flaky:
            self.flaky.discard(message.text)
            raise ConnectionError("connection reset")
        await super().send(chat_id, message)


async def test_order_is_kept_per_chat_and_priority_and_a_reply_overtakes_queued_bulk(settings, db):
    queue(db, "secretary", ["b1", "b2", "b3"], Priority.bulk)
    queue(db, "secretary", ["n1"], Priority.notice)
    queue(db, "secretary", ["r1", "r2"])
    now = [datetime.now(UTC)]
    channel = FailsOnce(Limits(per_chat_per_second=100, per_chat_burst=10), flaky={"b2"})
    processor = own_processor(settings)
    await processor.start()
    sender = Sender(processor, {"telegram": channel}, clock=lambda: now[0])
    try:
        await sender.drain_once()
        # Replies first, then the notice, then bulk; b2 failed: b3 waits for it, nothing else does.
        assert [t for _c, t, _a in channel.sent] == ["r1", "r2", "n1", "b1"]
        by_text = {r.body["text"]: r for r in outbox(db)}
        assert by_text["b2"].status == OutboxStatus.pending and by_text["b2"].attempts == 1
        assert by_text["b3"].status == OutboxStatus.pending and by_text["b3"].attempts == 0  # held back, not failed
        queue(db, "secretary", ["r3"])
        await sender.drain_once()
        assert [t for _c, t, _a in channel.sent][4:] == ["r3"]  # b2's backoff has not passed yet
        now[0] += timedelta(seconds=3)
        await sender.drain_once()
    finally:
        await processor.stop()
    assert [t for _c, t, _a in channel.sent] == ["r1", "r2", "n1", "b1", "r3", "b2", "b3"]
    assert {r.status for r in outbox(db)} == {OutboxStatus.sent}


# ---- through the real Telegram channel, against the fake Bot API ----------------------------


@pytest.fixture
async def telegram(settings, db, tg: FakeTelegram):
    tg_settings = make_settings(settings.database_url, TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.base_url)
    processor = own_processor(tg_settings)
    await processor.start()
    channel = TelegramChannel(Host(tg_settings, processor))
    now = [datetime.now(UTC)]
    sender = Sender(processor, {"telegram": channel}, clock=lambda: now[0])
    try:
        yield sender, now
    finally:
        await channel.close()
        await processor.stop()


def send_attempts(tg: FakeTelegram, chat_id: str) -> list[int]:
    return [c.status for c in tg.calls_of("sendMessage") if str(c.params.get("chat_id")) == chat_id]


async def test_telegram_429_is_retried_after_retry_after_and_sent_once(telegram, tg, db):
    sender, now = telegram
    tg.rate_limit(1, retry_after=7)
    queue(db, "5001", ["hello"])
    await sender.drain_once()
    [row] = outbox(db)
    assert row.status == OutboxStatus.pending and "retry after" in row.error.lower()
    assert row.not_before >= now[0] + timedelta(seconds=7)
    now[0] += timedelta(seconds=6)
    assert await sender.drain_once() == 0  # not before retry_after
    now[0] += timedelta(seconds=1)
    await sender.drain_once()
    assert send_attempts(tg, "5001") == [429, 200]
    assert tg.sent_texts(5001) == ["hello"]
    [row] = outbox(db)
    assert row.status == OutboxStatus.sent and row.sent_at is not None


async def test_telegram_403_marks_the_identity_unreachable_and_sends_nothing_more(telegram, tg, db):
    sender, _now = telegram
    with unit_of_work(db) as uow:
        uow.accounts.create_with_identity(
            channel="telegram",
            external_id="5002",
            chat_id="5002",
            display_name=None,
            locale="vi",
            now=datetime.now(UTC),
        )
    tg.block(5002)
    queue(db, "5002", ["reminder"], Priority.bulk)
    queue(db, "5002", ["answer 1", "answer 2"])
    await sender.drain_once()
    assert send_attempts(tg, "5002") == [403]  # the first try; the rest were not sent
    assert {r.status for r in outbox(db)} == {OutboxStatus.unreachable}
    assert "blocked" in outbox(db)[0].error
    with unit_of_work(db) as uow:
        assert not uow.accounts.sender("telegram", "5002").reachable
    assert await sender.drain_once() == 0


async def test_telegram_5xx_is_retried_with_backoff_then_failed(telegram, tg, db):
    sender, now = telegram
    sender.channels["telegram"].limits = Limits()  # eight sends to one chat: no need to wait a second each
    tg.fail(100, status=502)
    queue(db, "5003", ["hello"])
    waits = []
    for _ in range(MAX_ATTEMPTS):
        before = now[0]
        assert await sender.drain_once() == 1
        [row] = outbox(db)
        waits.append((row.not_before - before).total_seconds())
        now[0] = row.not_before
    assert waits[:-1] == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]
    assert row.status == OutboxStatus.failed and row.attempts == MAX_ATTEMPTS
    assert "Bad Gateway" in row.error
    assert await sender.drain_once() == 0  # failed: not tried again
    assert send_attempts(tg, "5003") == [502] * MAX_ATTEMPTS


# ---- what decides a row's priority --------------------------------------------------------


def test_a_row_priority_follows_its_kind_unless_told(db):
    now = datetime.now(UTC)
    message = Outgoing("x")
    assert outbox_row("telegram", "1", None, message, now)["priority"] == Priority.reply
    assert outbox_row("telegram", "1", None, message, now, kind=OutboxKind.notice)["priority"] == Priority.notice
    assert outbox_row("zalo", "1", None, message, now, kind=OutboxKind.template)["priority"] == Priority.notice
    season = outbox_row("telegram", "1", None, message, now, kind=OutboxKind.notice, priority=Priority.bulk)
    assert season["priority"] == Priority.bulk
    unsaid = [
        {k: v for k, v in outbox_row("telegram", c, None, message, now, kind=k).items() if k != "priority"}
        for c, k in (("a", OutboxKind.reply), ("b", OutboxKind.notice))
    ]
    with unit_of_work(db) as uow:
        uow.outbox.add_many(unsaid)
        uow.outbox.add_once(unsaid[1] | {"chat_id": "c", "dedupe_key": "k"})
    assert [r.priority for r in outbox(db)] == [Priority.reply, Priority.notice, Priority.notice]


def test_telegram_rate_comes_from_the_setting(settings, db):
    tg_settings = make_settings(settings.database_url, TELEGRAM_BOT_TOKEN="1:x", TELEGRAM_RATE_PER_SECOND="12.5")
    channel = TelegramChannel(Host(tg_settings, own_processor(tg_settings)))
    assert channel.limits == Limits(per_second=12.5, per_chat_per_second=1, per_chat_burst=3)
    assert make_settings(settings.database_url).telegram_rate_per_second == 25
