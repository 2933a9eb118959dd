"""The nightly retention prune (bot/retention.py) at scale, on SQLite.

A database with N inbound events (four in five past CHIDOAN_KEEP_EVENTS_DAYS, handled) and N
outbox rows (four in five past CHIDOAN_KEEP_MESSAGES_DAYS, sent; one in ten with a dedupe key, a
reminder's, reduced to its key; a few still pending, which stay), and N/20 meeting conversations
with a photo each (four in five old: half filed, their report naming the photo, which stays; half
cancelled, whose photo goes; and N/200 drafts abandoned past CHIDOAN_KEEP_DRAFTS_DAYS), bulk-
inserted. The prune runs as the service runs it: batch after batch, one transaction each, and
then once more, as the next night does, over the keyed rows already reduced. Measured per batch
size: rows handled a second, and the longest and median and 95th percentile transaction (what a
reply typed at 03:00 may wait behind).

Run: python bench/prune.py [--rows 200000] [--batches 500,1000,2000,5000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chidoan.bot.retention import prune  # noqa: E402
from chidoan.storage.db import make_db, upgrade  # noqa: E402
from chidoan.storage.models import (  # noqa: E402
    Account,
    Conversation,
    Document,
    InboundEvent,
    OrgUnit,
    Outbox,
    Report,
    ReportVersion,
    table,
)
from chidoan.storage.uow import unit_of_work  # noqa: E402

NOW = datetime(2027, 3, 1, 3, 0, tzinfo=UTC)
SETTINGS = SimpleNamespace(keep_events_days=30, keep_messages_days=90, keep_drafts_days=180, keep_exports_days=7)
CHUNK = 10_000  # rows an insert statement


def fill(engine, rows: int) -> None:
    events, out = table(InboundEvent), table(Outbox)
    with engine.begin() as conn:
        for start in range(0, rows, CHUNK):
            batch_events, batch_out = [], []
            for n in range(start, min(rows, start + CHUNK)):
                old = n % 5 != 0
                at = NOW - timedelta(days=200 - n * 150 / rows) if old else NOW - timedelta(days=n % 29)
                batch_events.append(
                    {
                        "channel": "telegram",
                        "event_id": str(n),
                        "account_id": None,
                        "kind": "text",
                        "text": "Báo cáo sinh hoạt chi đoàn tháng 3",
                        "payload": None,
                        "received_at": at,
                        "processed_at": at,
                    }
                )
                sent_at = NOW - timedelta(days=400 - n * 300 / rows) if old else NOW - timedelta(days=n % 89)
                batch_out.append(
                    {
                        "channel": "telegram",
                        "chat_id": str(n % 5000),
                        "account_id": None,
                        "body": {"text": "Đã ghi nhận báo cáo của đồng chí."},
                        "status": "pending" if n % 997 == 0 else "sent",
                        "attempts": 1,
                        "not_before": sent_at,
                        "dedupe_key": f"reminder:{n}" if n % 10 == 1 else None,
                        "created_at": sent_at,
                        "sent_at": sent_at,
                        "kind": "reply",
                        "priority": 0,
                    }
                )
            conn.execute(events.insert(), batch_events)
            conn.execute(out.insert(), batch_out)
    fill_conversations(engine, rows // 20)


def fill_conversations(engine, rows: int) -> None:
    """Meeting conversations of one branch, each with a photo; the filed ones' reports name it."""
    photo = b"\x89PNG\r\n\x1a\n" + bytes(2000)
    with engine.begin() as conn:
        conn.execute(table(Account).insert().values(id=1, full_name="Phạm Minh Dũng", created_at=NOW))
        conn.execute(
            table(OrgUnit).insert().values(id=1, code="KP1", name="Chi đoàn Khu phố 1", kind="branch", created_at=NOW)
        )
        for start in range(0, rows, CHUNK):
            docs, convs, reports, versions = [], [], [], []
            for n in range(start, min(rows, start + CHUNK)):
                old, filed = n % 5 != 0, n % 2 == 0
                at = NOW - timedelta(days=(120 + n % 200) if old else n % 89)
                status = "paused" if n % 10 == 1 else "completed" if filed else "cancelled"
                docs.append({"id": n + 1, "kind": "upload", "filename": f"{n}.png", "token": f"t{n}", "content": photo})
                docs[-1]["created_at"] = at
                answers = {"theme": "Sinh hoạt", "photos": [{"document": n + 1, "name": f"{n}.png"}]}
                data = {"a": answers, "ctx": {"unit": 1}}
                convs.append({"account_id": 1, "journey": "meeting", "step": "photos", "data": data})
                convs[-1] |= {"status": status, "version": 3, "created_at": at, "updated_at": at}
                if status == "completed":
                    reports.append({"id": n + 1, "unit_id": 1, "kind": "meeting", "held_on": at.date(), "version": 1})
                    reports[-1] |= {"status": "submitted", "created_by": 1, "created_at": at, "updated_at": at}
                    versions.append({"report_id": n + 1, "version": 1, "data": {"photos": answers["photos"]}})
                    versions[-1] |= {"submitted_by": 1, "submitted_at": at}
            conn.execute(table(Document).insert(), docs)
            conn.execute(table(Conversation).insert(), convs)
            if reports:
                conn.execute(table(Report).insert(), reports)
                conn.execute(table(ReportVersion).insert(), versions)


async def measure(rows: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_db(f"sqlite:///{folder}/prune.sqlite3")
        upgrade(engine)
        fill(engine, rows)
        took: list[float] = []

        async def run(work):
            started = time.perf_counter()
            with unit_of_work(engine) as uow:
                result = work(uow)
            took.append(time.perf_counter() - started)
            return result

        started = time.perf_counter()
        pruned = await prune(run, SETTINGS, NOW, batch=batch)
        wall = time.perf_counter() - started
        first_night = list(took)
        started = time.perf_counter()
        await prune(run, SETTINGS, NOW + timedelta(days=1), batch=batch)  # the next night: little new
        next_night = time.perf_counter() - started
        took = first_night
        engine.dispose()
    deleted = sum(pruned.values())
    return {
        "next_night": next_night,
        "batch": batch,
        "pruned": pruned,
        "wall": wall,
        "rate": deleted / wall,
        "longest_ms": max(took) * 1000,
        "median_ms": statistics.median(took) * 1000,
        "p95_ms": sorted(took)[int(len(took) * 0.95)] * 1000,
        "transactions": len(took),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="inbound events, and as many outbox rows")
    parser.add_argument("--batches", default="500,1000,2000,5000", help="batch sizes to compare")
    args = parser.parse_args()
    print(f"{args.rows} inbound events + {args.rows} outbox rows, SQLite")
    for batch in (int(b) for b in args.batches.split(",")):
        r = asyncio.run(measure(args.rows, batch))
        p = r["pruned"]
        print(
            f"batch {r['batch']:>5}: {p['events']} events, {p['messages']} messages (+{p['messages_blanked']} reduced "
            f"to their key), {p['conversations']} conversations + {p['drafts']} drafts with {p['uploads']} files "
            f"in {r['wall']:.2f} s = {r['rate']:,.0f} rows/s; {r['transactions']} transactions, "
            f"median {r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, longest {r['longest_ms']:.1f} ms; "
            f"the next night {r['next_night']:.2f} s"
        )


if __name__ == "__main__":
    main()
