"""The status of a reviewing unit's subtree (chidoan/review/status.py, `/trangthai` for staff) at
a province's scale, on SQLite and on the local PostgreSQL.

A generated province of about 20,000 units: 16 districts of 200 base units each, 800 base units
directly under the province (a fifth, as since the 2025 reorganisation), four branches under
each base unit; a secretary for most units; five plan years of registrations (2023-2027) in
every state; five years of meetings (12 a year per base unit, reported by its branches),
dialogues (one or two a year) and their commitments. Data is bulk-inserted (executemany), not
made through the journeys.

Timed, median of 20 warm runs: `status_of` for one district (200 base units) and for the whole
province; and the whole `/trangthai` reply of a district's staff member (the event handled
through the real Processor and Engine, then the chart's job rendered and stored), on SQLite.

Run: python bench/status.py [--runs 20] [--no-postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.province import BRANCHES, PROGRAMME, load, report_row, settings_for, tree  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=TZ)
YEARS = range(2022, 2027)  # activity years; plan years are these + 1
PG_ADMIN_URL = os.environ.get("CHIDOAN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STAFF_USER = "staff-d1"  # the first district's staff member, in the web chat


def generate() -> dict[str, list[dict]]:
    """The rows of every table, ids given, deterministic."""
    rng = random.Random(2026)
    rows: dict[str, list[dict]] = {
        k: [] for k in ("org_unit", "account", "identity", "role", "registration", "report", "commitment")
    }
    province, districts, bases, branches = tree(rows["org_unit"], T0)
    _people(rows, rng, province, districts, bases, branches)
    for base in bases:
        _activity(rows, rng, base, branches[base["id"]])
    return rows


T0 = datetime(2021, 6, 1, tzinfo=UTC)
STATES = [
    ("submitted", True, None),
    ("submitted", False, None),
    ("returned", True, None),
    ("reviewed", True, None),
    ("reviewed", True, "passed"),
    ("reviewed", False, "not_passed"),
    ("draft", None, None),
]


def _people(
    rows: dict,
    rng: random.Random,
    province: dict,
    districts: list[dict],
    bases: list[dict],
    branches: dict[int, list[dict]],
) -> None:
    """A secretary for 95% of base units (most bound years ago, a few this autumn) and one per
    branch; the first district's staff member (the bench's /trangthai) and the province's."""
    account_id = 0

    def person(uid: int, joined: datetime, role: str = "secretary") -> None:
        nonlocal account_id
        account_id += 1
        rows["account"].append(dict(id=account_id, full_name=f"Bí thư {account_id}", locale="vi", created_at=joined))
        rows["role"].append(dict(account_id=account_id, unit_id=uid, role=role, granted_at=joined))

    for base in bases:
        if rng.random() < 0.95:
            autumn = rng.random() < 0.03
            person(base["id"], datetime(2026, 11, 2, tzinfo=UTC) if autumn else T0 + timedelta(days=rng.randrange(300)))
        for branch in branches[base["id"]]:
            person(branch["id"], T0 + timedelta(days=rng.randrange(300)))
    for code, uid in ((STAFF_USER, districts[0]["id"]), ("staff-p", province["id"])):
        person(uid, T0, "district_staff")
        rows["identity"].append(
            dict(
                channel="web",
                external_id=code,
                chat_id=code,
                account_id=account_id,
                reachable=True,
                created_at=T0,
                preferred=False,
            )
        )


def _activity(rows: dict, rng: random.Random, base: dict, branches: list[dict]) -> None:
    """Five years of one base unit: its plans, its branches' monthly meetings, its dialogues and
    their commitments."""
    writer = 1
    for year in YEARS:
        plan_year = year + 1
        if rng.random() < 0.85:
            status, on_time, result = rng.choice(STATES)
            if plan_year < 2026 and status in ("submitted", "returned", "draft"):
                status, result = "reviewed", "passed"
            version = 0 if status == "draft" else 1
            rows["registration"].append(
                dict(
                    unit_id=base["id"],
                    programme=PROGRAMME,
                    year=plan_year,
                    status=status,
                    version=version,
                    on_time=on_time if version else None,
                    result=result,
                    first_submitted_at=datetime(year, 10, 10, tzinfo=UTC) if version else None,
                    created_at=datetime(year, 10, 1, tzinfo=UTC),
                    updated_at=datetime(year, 10, 10, tzinfo=UTC),
                )
            )
        last_month = 12 if year < TODAY.year else TODAY.month
        for month in range(1, last_month + 1):
            if rng.random() < 0.9:
                branch = branches[month % BRANCHES]
                held = date(year, month, rng.randrange(1, 28))
                rows["report"].append(_report(len(rows["report"]) + 1, branch["id"], "meeting", held, writer, rng))
        for _ in range(rng.choice((0, 1, 1, 2))):
            held = date(year, rng.randrange(1, last_month + 1), rng.randrange(1, 28))
            report = _report(len(rows["report"]) + 1, base["id"], "dialogue", held, writer, rng)
            rows["report"].append(report)
            for _c in range(2):
                rows["commitment"].append(
                    dict(
                        report_id=report["id"],
                        unit_id=base["id"],
                        promise="Sửa đường liên ấp",
                        promised_by="Chủ tịch UBND xã",
                        due_on=held + timedelta(days=90),
                        status=rng.choice(("open", "done", "done", "in_progress")),
                        created_at=datetime(year, 1, 1, tzinfo=UTC),
                        updated_at=datetime(year, 1, 1, tzinfo=UTC),
                    )
                )


def _report(report_id: int, unit_id: int, kind: str, held: date, writer: int, rng: random.Random) -> dict:
    """A report's row; 2% of them withdrawn."""
    return report_row(report_id, unit_id, kind, held, writer, "withdrawn" if rng.random() < 0.02 else "submitted")


def time_status(db, settings, code: str, runs: int) -> tuple[float, int]:
    """Median ms of `runs` warm calls of status_of (each in its own transaction), and the units."""
    from chidoan.programmes.loader import programmes
    from chidoan.review.status import status_of
    from chidoan.storage.uow import unit_of_work

    programme = programmes(settings)[PROGRAMME]
    with unit_of_work(db) as uow:
        root = uow.units.by_code(code)
    times = []
    listed = 0
    for i in range(runs + 3):
        started = time.perf_counter()
        with unit_of_work(db) as uow:
            status = status_of(uow, root, programme, 2027, today=TODAY, settings=settings)
        if i >= 3:  # warm
            times.append((time.perf_counter() - started) * 1000)
        listed = len(status.units)
    return statistics.median(times), listed


def time_chunks(db, settings, code: str) -> tuple[float, float, int]:
    """A province read as /trangthai's job reads it: each chunk of CHUNK units its own
    transaction; (longest, median) ms of those transactions, and how many."""
    from chidoan.programmes.loader import programmes
    from chidoan.reminders.obligations import Calendar
    from chidoan.review.status import CHUNK, status_chunk
    from chidoan.storage.uow import unit_of_work

    programme = programmes(settings)[PROGRAMME]
    with unit_of_work(db) as uow:
        root, cal = uow.units.by_code(code), Calendar.load(uow, settings)
    times: list[float] = []
    for _run in range(2):  # the first warms the caches
        times = []
        after: str | None = ""
        while after is not None:
            started = time.perf_counter()
            with unit_of_work(db) as uow:
                _units, after = status_chunk(uow, root, programme, 2027, today=TODAY, cal=cal, after=after, limit=CHUNK)
            times.append((time.perf_counter() - started) * 1000)
    return max(times), statistics.median(times), len(times)


def time_pending(db, settings, code: str) -> tuple[float, int]:
    """/chuanop's job after the status is read: last month's meetings of every branch and the
    unanswered commitments, chunk by chunk, each its own transaction; the longest (ms, second
    of two runs) and how many."""
    from chidoan.programmes.loader import programmes
    from chidoan.reminders.obligations import Calendar
    from chidoan.review.pending import CHUNKED, from_status
    from chidoan.review.status import status_of
    from chidoan.storage.uow import unit_of_work

    programme = programmes(settings)[PROGRAMME]
    with unit_of_work(db) as uow:
        root, cal = uow.units.by_code(code), Calendar.load(uow, settings)
        status = status_of(uow, root, programme, 2027, today=TODAY, settings=settings, cal=cal)
    times: list[float] = []
    for _run in range(2):
        times = []
        for group in from_status(status, programme, today=TODAY, cal=cal):
            after: str | None = ""
            while after is not None and group.kind in CHUNKED:
                started = time.perf_counter()
                with unit_of_work(db) as uow:
                    after = CHUNKED[group.kind](uow, root, group, cal, TODAY, after=after)
                times.append((time.perf_counter() - started) * 1000)
    return max(times), len(times)


async def time_reply(url: str, runs: int) -> tuple[float, float]:
    """Median ms of the whole /trangthai reply of a district's staff member: the event handled
    (status_of and the text, committed) and then the chart's job (rendered off the database
    thread and stored); and the median of the handler alone."""
    from chidoan.bot.app import App
    from chidoan.engine.messages import Incoming

    settings = settings_for(url)
    real = datetime.now(UTC)
    app = App(settings, clock=lambda: NOW.astimezone(UTC) + (datetime.now(UTC) - real))
    await app.start()
    try:
        whole, handler = [], []
        for i in range(runs + 3):
            incoming = Incoming("web", f"bench-{uuid.uuid4().hex}", STAFF_USER, STAFF_USER, text="/trangthai")
            started = time.perf_counter()
            await app.processor.submit(incoming)
            answered = time.perf_counter()
            await app.jobs.settled()
            finished = time.perf_counter()
            if i >= 3:
                handler.append((answered - started) * 1000)
                whole.append((finished - started) * 1000)
        return statistics.median(whole), statistics.median(handler)
    finally:
        await app.stop()


def time_database(label: str, url: str, rows, runs: int) -> tuple[float, int, float]:
    """Load the province into the (empty) database at `url`, then time status_of for the first
    district and the province, the province's chunked read and /chuanop's; print the figures.
    (district ms, its units, province ms)."""
    from chidoan.storage.db import make_db, upgrade

    db = make_db(url)
    upgrade(db)
    started = time.perf_counter()
    load(db, rows)
    print(f"{label}: {len(rows['org_unit'])} units loaded in {time.perf_counter() - started:.1f} s", flush=True)
    settings = settings_for(url)
    district, d_units = time_status(db, settings, "D1", runs)
    province, p_units = time_status(db, settings, "P", runs)
    longest, median, chunks = time_chunks(db, settings, "P")
    pending, pending_chunks = time_pending(db, settings, "P")
    db.dispose()
    print(
        f"{label}: the province read in {chunks} chunks: longest transaction {longest:.1f} ms, median {median:.1f} ms"
    )
    print(
        f"{label}: /chuanop's meetings and commitments of the province: {pending_chunks} chunks, longest {pending:.1f} ms"
    )
    print(
        f"{label}: status_of district ({d_units} units) {district:.1f} ms; province ({p_units} units) {province:.1f} ms"
    )
    return district, d_units, province


def bench_sqlite(rows, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/status.sqlite3"
        district, d_units, province = time_database("sqlite", url, rows, runs)
        reply, handler = asyncio.run(time_reply(url, runs))
    print(
        f"sqlite: /trangthai of a {d_units}-unit district, text and chart: {reply:.0f} ms (the event alone {handler:.0f} ms)"
    )
    return {"district": district, "province": province, "reply": reply}


def bench_postgresql(rows, runs: int) -> dict | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"chidoan_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        print(f"postgresql: not reachable ({exc.__class__.__name__}); skipped")
        admin.dispose()
        return None
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        district, _, province = time_database("postgresql", url, rows, runs)
        return {"district": district, "province": province}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = generate()
    counts = ", ".join(f"{len(v)} {k}" for k, v in rows.items() if not k.startswith("_"))
    print(f"generated in {time.perf_counter() - started:.1f} s: {counts}", flush=True)
    lite = bench_sqlite(rows, args.runs)
    pg = None if args.no_postgresql else bench_postgresql(rows, args.runs)
    pg_part = f"district {pg['district']:.1f} ms; province {pg['province']:.1f} ms" if pg else "not run"
    print(
        f"status: district {lite['district']:.1f} ms; province {lite['province']:.1f} ms (sqlite); {pg_part} (postgresql)"
    )


if __name__ == "__main__":
    main()
