"""A reminder season through the real sender, against a fake Telegram that enforces its limits.

The send side of a season: N recipients each have one bulk-priority notice in the outbox
(inserted directly, in batches; SQLite in a temporary directory); chidoan's Processor, Sender
and TelegramChannel (the real aiogram client) send them to a fake Bot API (tests/fake_telegram.py,
in this process) that allows 30 messages in any sliding second and 1 a second per chat, and
answers 429 with retry_after beyond that. Every text carries its row's marker, so the fake
counts what was lost (never delivered) and duplicated (delivered more than once).

While the season sends, a reply (a priority-0 row, as the processor queues for someone who just
wrote) is queued every second to another chat and its latency measured from queued to received
by the fake; the same is measured first with no season running.

Then the sweep that makes a season (bench/sweep.py): its time for --obligations deadlines, and
the replies' latency while it runs.

Run: python bench/reminders.py [--recipients 100000] [--rate 30] [--obligations 100000]
(the share of the limit is quoted at --recipients 10000).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOKEN = "123456:BENCH"
FAKE_PER_SECOND = 30  # what the fake Bot API allows in any sliding second (Telegram's limit)
FAKE_PER_CHAT = 1
SEASON_CHATS = 10_000_000  # chat ids: the season's recipients from here, replies from REPLY_CHATS
REPLY_CHATS = 90_000_000
BATCH = 5_000


def _row(chat_id: int, text: str, priority: int, now: datetime) -> dict:
    from chidoan.engine.dispatch import outbox_row
    from chidoan.engine.messages import Outgoing
    from chidoan.storage.models import OutboxKind, Priority

    kind = OutboxKind.reply if priority == Priority.reply else OutboxKind.notice
    return outbox_row("telegram", str(chat_id), None, Outgoing(text), now, kind, priority=priority)


async def seed_season(processor, recipients: int) -> float:
    """One bulk notice per recipient, inserted in batches on the database thread (SQLite's one
    connection is the processor's); returns the seconds it took."""
    from chidoan.storage.models import Priority

    began = time.perf_counter()
    now = datetime.now(UTC)
    for start in range(0, recipients, BATCH):
        rows = [
            _row(SEASON_CHATS + i, f"[season {i}] Nhắc hạn: báo cáo quý IV nộp trước thứ Sáu.", Priority.bulk, now)
            for i in range(start, min(recipients, start + BATCH))
        ]
        await processor.run(lambda uow, rows=rows: uow.outbox.add_many(rows))
    return time.perf_counter() - began


class Replies:
    """Queues replies (priority 0) as the processor does for someone who wrote, and wakes the
    sender as its commit does; `latencies` reads their arrival at the fake."""

    def __init__(self, processor, sender, fake, first: int):
        self.processor, self.sender, self.fake = processor, sender, fake
        self.queued: dict[str, float] = {}
        self.next = first

    async def one(self) -> None:
        from chidoan.storage.models import Priority

        chat, self.next = self.next, self.next + 1
        text = f"[reply {chat}] Đã nhận báo cáo của đồng chí."
        row = _row(chat, text, Priority.reply, datetime.now(UTC))
        await self.processor.run(lambda uow: uow.outbox.add_many([row]))
        self.queued[text] = time.monotonic()
        self.sender.wake()

    async def every(self, seconds: float, until: asyncio.Event) -> None:
        while not until.is_set():
            await self.one()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), seconds)

    def arrived(self) -> dict[str, float]:
        return {c.params["text"]: c.at for c in self.fake.calls_of("sendMessage") if c.status == 200}

    def latencies(self) -> list[float]:
        arrived = self.arrived()
        return [arrived[t] - q for t, q in self.queued.items() if t in arrived]

    def delivered(self) -> bool:
        arrived = self.arrived()
        return all(t in arrived for t in self.queued)


async def _season(recipients: int, rate: float, baseline_replies: int) -> dict:
    from chidoan.bot.channels.base import Host
    from chidoan.bot.channels.telegram import TelegramChannel
    from chidoan.bot.config import Settings
    from chidoan.bot.processor import Processor
    from chidoan.bot.sender import Sender
    from chidoan.handlers import build_engine
    from chidoan.storage.db import make_db, upgrade
    from chidoan.storage.models import OutboxStatus
    from tests.fake_telegram import FakeTelegram

    result: dict = {"recipients": recipients, "rate_limit": rate}
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegram(token=TOKEN) as fake:
            fake.enforce(per_second=FAKE_PER_SECOND, per_chat=FAKE_PER_CHAT)
            settings = Settings(
                _env_file=None,
                CHIDOAN_DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3",
                TELEGRAM_BOT_TOKEN=TOKEN,
                TELEGRAM_API_URL=fake.base_url,
                TELEGRAM_RATE_PER_SECOND=rate,
                ZALO_BOT_TOKEN=None,
                ZALO_OA_APP_ID=None,
            )
            db = make_db(settings.database_url)
            upgrade(db)
            processor = Processor(db, build_engine(settings))
            await processor.start()
            channel = TelegramChannel(Host(settings, processor))
            sender = Sender(processor, {"telegram": channel})
            await sender.start()
            try:
                # Replies with nothing else to send: the latency to compare with.
                quiet = Replies(processor, sender, fake, REPLY_CHATS)
                for _ in range(baseline_replies):
                    await quiet.one()
                    await asyncio.sleep(0.25)
                await _until(quiet.delivered, 30)
                result["reply_quiet"] = quiet.latencies()

                result["seed_s"] = await seed_season(processor, recipients)
                sent_before = len(fake.calls)
                done = asyncio.Event()
                busy = Replies(processor, sender, fake, REPLY_CHATS + baseline_replies)
                sender.wake()
                injector = asyncio.create_task(busy.every(1.0, done))

                deadline = time.monotonic() + recipients / rate * 2 + 60
                while await processor.run(lambda uow: uow.outbox.count(OutboxStatus.pending)):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the season was not sent in time")
                    await asyncio.sleep(1.0)
                done.set()
                await injector
                await _until(busy.delivered, 30)
                result["reply_season"] = busy.latencies()
            finally:
                await sender.stop()
                await processor.stop()
                await channel.close()
                db.dispose()

            calls = [c for c in fake.calls[sent_before:] if c.method == "sendMessage"]
            season = [c for c in calls if c.status == 200 and c.params["text"].startswith("[season ")]
            ok = [c for c in calls if c.status == 200]
            first, last = min(c.at for c in season), max(c.at for c in season)
            delivered = {c.params["text"] for c in season}
            result |= {
                "season_sent": len(season),
                "all_sent": len([c for c in ok if first <= c.at <= last]),
                "seconds": last - first,
                "too_many": fake.too_many,
                "lost": recipients - len(delivered),
                "duplicates": len(season) - len(delivered),
                "errors": len([c for c in calls if c.status not in (200, 429)]),
                "most_in_a_second": _most_in_a_second([c.at for c in ok]),
            }
    return result


async def _until(check, timeout: float, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not done within {timeout:.0f} s")
        await asyncio.sleep(poll)


def _most_in_a_second(times: list[float]) -> int:
    times, most, start = sorted(times), 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def send_season(recipients: int, rate: float = 30.0, baseline_replies: int = 20) -> dict:
    """Send a season of `recipients` reminders at the configured `rate`; the figures as a dict."""
    return asyncio.run(_season(recipients, rate, baseline_replies))


def measure_sweep(obligations: int) -> float:
    """Seconds the reminder sweep takes to queue reminders for `obligations` deadlines (it
    prints its own figures, bench/sweep.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sweep as sweep_bench

    figures = sweep_bench.measure_sweep(obligations)
    sweep_bench.report(figures)
    return figures["alone"]["seconds"]


def _ms(values: list[float], pct: int) -> str:
    if not values:
        return "n/a"
    if pct == 50:
        return f"{statistics.median(values) * 1000:.0f}"
    return f"{statistics.quantiles(values, n=100, method='inclusive')[pct - 1] * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=30.0, help="TELEGRAM_RATE_PER_SECOND (the configured limit)")
    parser.add_argument("--obligations", type=int, default=100_000, help="for the sweep time")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    r = send_season(args.recipients, args.rate)
    rate = r["all_sent"] / r["seconds"]
    share = rate / args.rate
    print(f"recipients: {r['recipients']}; configured rate: {args.rate:g}/s; fake allows {FAKE_PER_SECOND}/s")
    print(f"seeded: {r['recipients']} outbox rows in {r['seed_s']:.1f} s")
    print(
        f"season: {r['season_sent']} reminders (+ {r['all_sent'] - r['season_sent']} replies) "
        f"in {r['seconds']:.1f} s, first to last send"
    )
    print(f"sustained rate: {rate:.2f} msg/s; share of {args.rate:g}/s: {share:.3f}")
    print(f"most in any second at the fake: {r['most_in_a_second']}")
    print(f"429s: {r['too_many']}; other errors: {r['errors']}")
    print(f"lost: {r['lost']}; duplicates: {r['duplicates']}")
    quiet, busy = r["reply_quiet"], r["reply_season"]
    print(f"reply latency, no season ({len(quiet)} replies): p50 {_ms(quiet, 50)} ms, p99 {_ms(quiet, 99)} ms")
    print(f"reply latency, during it ({len(busy)} replies): p50 {_ms(busy, 50)} ms, p99 {_ms(busy, 99)} ms")
    sweep = measure_sweep(args.obligations)
    print(
        f"reminders: {rate:.2f} msg/s; share: {share:.3f}; lost: {r['lost']}; "
        f"duplicates: {r['duplicates']}; sweep: {sweep:.1f} s"
    )


if __name__ == "__main__":
    main()
