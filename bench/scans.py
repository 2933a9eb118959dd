"""A chat's and an account's rows on a big database, on SQLite (issue 12).

N inbound events and N outbox rows spread over 10,000 web chats (twenty each at 200,000; one
message in ten still pending, a season's queue), and ten conversations an account, bulk-inserted. Timed, each over a sample of chats: the web chat's
history page (`read_history`: the newest 40 events and messages of one chat), a platform's
refusal (`accounts.mark_unreachable` and `outbox.mark_unreachable` for one chat, rolled back) and
the registration's look for set-aside drafts (`_paused_drafts`). Prints the median and the 95th
percentile per call.

Run: python bench/scans.py [--rows 200000] [--chats 10000] [--samples 200]
To measure another checkout's code with this script: PYTHONPATH=/path/to/checkout python bench/scans.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chidoan.bot.channels.web import read_history  # noqa: E402
from chidoan.handlers.registration import _paused_drafts  # noqa: E402
from chidoan.storage.db import make_db, upgrade  # noqa: E402
from chidoan.storage.models import (  # noqa: E402
    Account,
    ChannelIdentity,
    Conversation,
    InboundEvent,
    Outbox,
    table,
)
from chidoan.storage.uow import UnitOfWork  # noqa: E402

T0 = datetime(2026, 9, 1, tzinfo=UTC)
CHUNK = 10_000
CONVERSATIONS = 10  # an account's


def fill(engine, rows: int, chats: int) -> None:
    with engine.begin() as conn:
        conn.execute(table(Account).insert(), [{"locale": "vi", "created_at": T0} for _ in range(chats)])
        conn.execute(
            table(ChannelIdentity).insert(),
            [
                {"channel": "web", "external_id": f"u{a}", "chat_id": f"u{a}", "account_id": a, "created_at": T0}
                for a in range(1, chats + 1)
            ],
        )
        conn.execute(
            table(Conversation).insert(),
            [
                {"account_id": a, "journey": "plan" if n % 2 else "report", "step": "s", "data": {"ctx": {}}}
                | {"status": "paused" if n == 0 else "completed", "created_at": T0, "updated_at": T0}
                for a in range(1, chats + 1)
                for n in range(CONVERSATIONS)
            ],
        )
        for start in range(0, rows, CHUNK):
            events, out = [], []
            for n in range(start, min(rows, start + CHUNK)):
                a, at = n % chats + 1, T0 + timedelta(seconds=n)
                events.append(
                    {"channel": "web", "event_id": str(n), "account_id": a, "kind": "text", "text": f"#{n}"}
                    | {"received_at": at, "processed_at": at}
                )
                out.append(
                    {"channel": "web", "chat_id": f"u{a}", "account_id": a, "body": {"text": f"#{n}"}}
                    | {
                        "status": "pending" if n % 10 == 0 else "sent",
                        "not_before": at,
                        "created_at": at,
                        "sent_at": at,
                    }
                )
            conn.execute(table(InboundEvent).insert(), events)
            conn.execute(table(Outbox).insert(), out)


def timed(engine, samples: list[int], call) -> tuple[float, float]:
    spent = []
    for a in samples:
        with engine.connect() as conn:
            started = time.perf_counter()
            with conn.begin() as tx:
                call(conn, a)
                tx.rollback()
            spent.append((time.perf_counter() - started) * 1000)
    spent.sort()
    return statistics.median(spent), spent[int(len(spent) * 0.95)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_db(f"sqlite:///{tmp}/scans.sqlite3")
        upgrade(engine)
        started = time.perf_counter()
        fill(engine, args.rows, args.chats)
        print(f"{args.rows:,} events and {args.rows:,} outbox rows over {args.chats:,} chats, ", end="")
        print(f"loaded in {time.perf_counter() - started:.1f} s")
        step = max(1, args.chats // args.samples)
        samples = list(range(1, args.chats + 1, step))[: args.samples]

        def history(conn, a: int) -> None:
            assert read_history(UnitOfWork(conn), f"u{a}")

        def refusal(conn, a: int) -> None:
            uow = UnitOfWork(conn)
            uow.accounts.mark_unreachable("web", f"u{a}", T0)
            uow.outbox.mark_unreachable("web", f"u{a}", "blocked")

        def drafts(conn, a: int) -> None:
            registration = SimpleNamespace(id=None, version=None, status="draft")
            ctx = SimpleNamespace(uow=UnitOfWork(conn), account_id=a)
            assert len(_paused_drafts(ctx, "report", registration)) == 1  # type: ignore[arg-type]

        for name, call in (("web chat history", history), ("refusal", refusal), ("set-aside drafts", drafts)):
            median, p95 = timed(engine, samples, call)
            print(f"{name:<18} median {median:7.2f} ms   p95 {p95:7.2f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
