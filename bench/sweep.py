"""The reminder sweep at scale, and what it does to the replies of people who are typing.

A province of N base units under 100 reviewing units, each with its secretary (bound on 1/9),
none of whom has registered the 2027 plan: a sweep on 12/10/2026 at 08:00 makes N reminders
(stage "before_3") and their outbox rows. Measured: the sweep's wall time, its longest
transaction (one chunk), and the latency of replies (a person's "/trogiup", stored and answered
through the real Processor and Engine) while the sweep runs, against the same without it.

Run: python bench/sweep.py [--obligations 100000] [--compare]   (bench/reminders.py calls `measure_sweep`)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.province import percentile, time_replies  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
AT = datetime(2026, 10, 12, 8, 0, tzinfo=TZ)  # "3 days before" the plan's 15/10
REVIEWERS = 100
REPLIES = 600  # replies measured in each condition


def _seed(db, n: int) -> None:
    from sqlalchemy import insert

    from chidoan.storage.models import Account, ChannelIdentity, OrgUnit, RoleAssignment, table

    bound = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    units, accounts, identities, roles = [], [], [], []
    for r in range(REVIEWERS):
        rid = r + 2
        units.append(
            dict(
                id=rid,
                code=f"D{r}",
                name=f"Đoàn cấp trên {r}",
                kind="district",
                parent_id=1,
                path=f"/1/{rid}/",
                reviews=True,
                created_at=bound,
            )
        )
    for i in range(n):
        uid = REVIEWERS + 2 + i
        parent = 2 + i % REVIEWERS
        units.append(
            dict(
                id=uid,
                code=f"U{i}",
                name=f"Đoàn xã {i}",
                kind="base_unit",
                parent_id=parent,
                path=f"/1/{parent}/{uid}/",
                reviews=False,
                created_at=bound,
            )
        )
        accounts.append(dict(id=i + 1, full_name=f"Bí thư {i}", locale="vi", created_at=bound))
        identities.append(
            dict(
                channel="web",
                external_id=f"s{i}",
                chat_id=f"s{i}",
                account_id=i + 1,
                display_name=None,
                reachable=True,
                created_at=bound,
                last_seen_at=bound,
                preferred=False,
            )
        )
        roles.append(dict(account_id=i + 1, unit_id=uid, role="secretary", invite_id=None, granted_at=bound))
    with db.begin() as conn:
        conn.execute(
            insert(table(OrgUnit)),
            [
                dict(
                    id=1,
                    code="P",
                    name="Tỉnh đoàn",
                    kind="province",
                    parent_id=None,
                    path="/1/",
                    reviews=True,
                    created_at=bound,
                )
            ],
        )
        for rows, model in (
            (units, OrgUnit),
            (accounts, Account),
            (identities, ChannelIdentity),
            (roles, RoleAssignment),
        ):
            for start in range(0, len(rows), 5000):
                conn.execute(insert(table(model)), rows[start : start + 5000])


def measure_sweep(obligations: int = 100_000, compare: bool = False) -> dict:
    """Seed a province, then run the sweep as the service does (a child process) once alone, for
    its time, and once with replies measured before and during it; with `compare`, also on the
    database thread; and time each chunk's transaction of a synchronous sweep."""
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        seeded = f"{tmp}/seeded.sqlite3"
        db = _fresh(f"sqlite:///{seeded}")
        _seed(db, obligations)
        db.dispose()
        figures: dict = {}
        runs = [("alone", True, False), ("process", True, True)] + ([("thread", False, True)] if compare else [])
        for name, process, replies in runs:
            path = f"{tmp}/{name}.sqlite3"
            shutil.copy(seeded, path)
            figures[name] = asyncio.run(_sweep_with_replies(f"sqlite:///{path}", process, replies))
        shutil.copy(seeded, f"{tmp}/chunks.sqlite3")
        figures["chunks"] = _chunk_times(f"sqlite:///{tmp}/chunks.sqlite3")
    return figures


def _settings(url: str, process: bool):
    from chidoan.bot.config import Settings

    return Settings(
        _env_file=None,
        CHIDOAN_DATABASE_URL=url,
        CHIDOAN_OBLIGATIONS_FROM="2026-09-01",
        CHIDOAN_SWEEP_PROCESS=process,
        CHIDOAN_WEB_ENABLED=False,
    )


def _fresh(url: str):
    from chidoan.storage.db import make_db, upgrade

    db = make_db(url)
    upgrade(db)
    return db


async def _sweep_with_replies(url: str, process: bool, replies: bool) -> dict:
    from sqlalchemy import func, select

    from chidoan.bot.checkpointer import Checkpointer
    from chidoan.bot.processor import Processor
    from chidoan.bot.sweeps import Sweeps
    from chidoan.handlers import build_engine
    from chidoan.storage.db import make_db
    from chidoan.storage.models import Reminder, table

    settings = _settings(url, process)
    db = make_db(url, checkpoints=False)  # as the service runs it, with its checkpointer
    checkpointer = Checkpointer(url)
    await checkpointer.start()
    processor = Processor(db, build_engine(settings))
    await processor.start()
    sweeps = Sweeps(processor, settings)
    if process:  # the child is spawned once, at the service's first sweep: not part of a sweep's time
        await sweeps.reminders(datetime(2026, 6, 1, 8, 0, tzinfo=TZ))  # nothing in season then
    quiet = await time_replies(processor, "quiet", REPLIES) if replies else []
    started = time.perf_counter()
    sweep = asyncio.create_task(sweeps.reminders(AT))
    done = asyncio.Event()
    sweep.add_done_callback(lambda _t: done.set())
    busy = await time_replies(processor, "busy", REPLIES, stop=done) if replies else []
    season = await sweep
    seconds = time.perf_counter() - started
    await sweeps.stop()
    await processor.stop()
    await checkpointer.stop()
    with db.connect() as conn:
        made = conn.execute(select(func.count()).select_from(table(Reminder))).scalar_one()
    db.dispose()
    return {"quiet": quiet, "busy": busy, "seconds": seconds, "created": season.created, "reminders": made}


def _chunk_times(url: str) -> list[float]:
    """Each chunk's transaction, in ms (a synchronous sweep, timed around each chunk)."""
    import chidoan.reminders.run as run_module

    chunks: list[float] = []
    real = run_module.sweep_chunk

    def timed(uow, *args, **kwargs):
        started = time.perf_counter()
        try:
            return real(uow, *args, **kwargs)
        finally:
            chunks.append((time.perf_counter() - started) * 1000)

    run_module.sweep_chunk = timed  # type: ignore[assignment]
    try:
        db = _fresh(url)
        run_module.run_sweep(db, _settings(url, False), AT)
        db.dispose()
    finally:
        run_module.sweep_chunk = real  # type: ignore[assignment]
    return chunks


def report(figures: dict) -> None:
    alone = figures["alone"]
    print(f"sweep: {alone['seconds']:.2f} s for {alone['reminders']} reminders ({alone['created']} messages queued)")
    labels = {"process": "in a child process (the service's way)", "thread": "on the database thread"}
    for mode, label in labels.items():
        if mode not in figures:
            continue
        f = figures[mode]
        quiet, busy = f["quiet"], f["busy"]
        print(f"with replies, {label}: the sweep took {f['seconds']:.2f} s")
        print(
            f"  replies without a sweep: p50 {statistics.median(quiet):.1f} ms, p99 {percentile(quiet, 0.99):.1f} ms ({len(quiet)})"
        )
        if busy:
            print(
                f"  replies during the sweep: p50 {statistics.median(busy):.1f} ms, p99 {percentile(busy, 0.99):.1f} ms ({len(busy)})"
            )
    chunks = figures["chunks"]
    print(
        f"sweep transactions (synchronous, 500 units each): {len(chunks)}, longest {max(chunks):.1f} ms, median {statistics.median(chunks):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obligations", type=int, default=100_000)
    parser.add_argument("--compare", action="store_true", help="also run the sweep on the database thread")
    args = parser.parse_args()
    report(measure_sweep(args.obligations, args.compare))


if __name__ == "__main__":
    main()
