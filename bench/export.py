"""A province's export (`/xuat`, chidoan/exports/xlsx.py) at scale, and what it does to the
replies of people who are typing meanwhile.

A generated province of about 20,000 units: 16 districts of 200 base units each and 800 base
units directly under the province, four branches under each base unit; a secretary for every
base unit; for plan year 2026 a registration of most base units (four tasks each, in every
state, some rated), a meeting report a month from each base unit's branches, a dialogue with two
commitments for most base units, and a review action for each rated plan. Rows are
bulk-inserted, not made through the journeys.

Measured on SQLite, as the service runs an export job (bot/jobs.py): each chunk read in one
transaction on the Processor's database thread, its rows built and written on a worker thread:
- the export's wall time and the workbook's size;
- the longest (and median) single read transaction;
- the longest read transaction of the province's compiled report and decision (/baocaohuyen,
  /quyetdinh: the units it reviews directly, in chunks);
- the latency of secretaries' "/trogiup" (stored and answered through the real Processor and
  Engine), p50 and p99, without an export and while one runs.

Run: python bench/export.py [--replies 400]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.province import (  # noqa: E402
    BRANCHES,
    PROGRAMME,
    load,
    percentile,
    report_row,
    settings_for,
    time_replies,
    tree,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
YEAR = 2026
NOW = datetime(2026, 12, 20, 9, 0, tzinfo=TZ)


def generate() -> dict[str, list[dict]]:
    """The rows of every table, ids given, deterministic."""
    rng = random.Random(2026)
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    rows: dict[str, list[dict]] = {
        k: []
        for k in (
            "org_unit",
            "account",
            "identity",
            "role",
            "registration",
            "registration_version",
            "item_rating",
            "review_action",
            "report",
            "report_version",
            "commitment",
        )
    }
    province, districts, bases, branches_of = tree(rows["org_unit"], t0)
    task = {"item": "1.1", "what": "Cập nhật 100% đoàn viên lên phần mềm quản lý", "when": "Quý I", "who": "BTV"}
    data = {
        "area1": [task, task | {"item": "1.4", "what": "Giúp đỡ 20 thanh niên khó khăn"}],
        "area2": [task | {"item": "2.3", "what": "Sinh hoạt chi đoàn định kỳ hằng tháng"}],
        "area3": [task | {"item": "3.1", "what": "Tổ chức 01 buổi đối thoại với lãnh đạo xã"}],
        "purpose": "Mục đích",
        "implementation": "Tổ chức thực hiện",
    }
    meeting = {"kind": "regular", "theme": "Sinh hoạt định kỳ", "total": 25, "present": 20, "content": "Nội dung"}
    dialogue = {
        "level": "commune",
        "leaders": [{"name": "Nguyễn Văn Bảy", "title": "Bí thư Đảng ủy"}],
        "participants": 60,
        "questions": [
            {"question": "Sân chơi", "promised": "Xây sân chơi"},
            {"question": "Việc làm", "promised": "Hỗ trợ"},
        ],
    }
    states = [
        ("submitted", True, None),
        ("submitted", False, None),
        ("returned", True, None),
        ("reviewed", True, "passed"),
        ("reviewed", False, "not_passed"),
    ]
    account = 0
    registration = report = 0
    staff_account = None
    for i, base in enumerate(bases):
        branches = branches_of[base["id"]]
        account += 1
        rows["account"].append(dict(id=account, full_name=f"Bí thư {account}", locale="vi", created_at=t0))
        rows["identity"].append(
            dict(
                channel="web",
                external_id=f"s{i}",
                chat_id=f"s{i}",
                account_id=account,
                reachable=True,
                created_at=t0,
                preferred=False,
            )
        )
        rows["role"].append(dict(account_id=account, unit_id=base["id"], role="secretary", granted_at=t0))
        if rng.random() < 0.9:
            registration += 1
            status, on_time, result = rng.choice(states)
            submitted = datetime(YEAR - 1, 10, 10, tzinfo=UTC)
            rows["registration"].append(
                dict(
                    id=registration,
                    unit_id=base["id"],
                    programme=PROGRAMME,
                    year=YEAR,
                    status=status,
                    version=1,
                    on_time=on_time,
                    result=result,
                    first_submitted_at=submitted,
                    created_at=submitted,
                    updated_at=submitted,
                )
            )
            rows["registration_version"].append(
                dict(
                    registration_id=registration,
                    version=1,
                    data=data,
                    submitted_by=account,
                    submitted_at=submitted,
                    on_time=bool(on_time),
                )
            )
            if result is not None:
                for position in range(1, 5):
                    rows["item_rating"].append(
                        dict(
                            registration_id=registration,
                            task=position,
                            item="1.1",
                            result=result,
                            rated_by=account,
                            rated_at=datetime(YEAR, 12, 10, tzinfo=UTC),
                        )
                    )
                rows["review_action"].append(
                    dict(
                        unit_id=base["id"],
                        registration_id=registration,
                        account_id=account,
                        action="rate_year",
                        detail={"result": result},
                        at=datetime(YEAR, 12, 10, tzinfo=UTC),
                    )
                )
        for month in range(1, 13):
            report += 1
            held = date(YEAR, month, rng.randrange(1, 28))
            rows["report"].append(report_row(report, branches[month % BRANCHES]["id"], "meeting", held, account))
            rows["report_version"].append(_version(report, meeting, account, held))
        if rng.random() < 0.8:
            report += 1
            held = date(YEAR, rng.randrange(1, 12), 15)
            rows["report"].append(report_row(report, base["id"], "dialogue", held, account))
            rows["report_version"].append(_version(report, dialogue, account, held))
            for promise in ("Xây sân chơi", "Hỗ trợ"):
                at = datetime(YEAR, held.month, 15, tzinfo=UTC)
                rows["commitment"].append(
                    dict(
                        report_id=report,
                        unit_id=base["id"],
                        promise=promise,
                        promised_by="Chủ tịch UBND xã",
                        due_on=date(YEAR, 12, 31),
                        status=rng.choice(("open", "done", "in_progress")),
                        created_at=at,
                        updated_at=at,
                    )
                )
    account += 1
    staff_account = account
    rows["account"].append(dict(id=account, full_name="Cán bộ Tỉnh đoàn", locale="vi", created_at=t0))
    rows["role"].append(dict(account_id=account, unit_id=province["id"], role="district_staff", granted_at=t0))
    rows["_meta"] = [dict(province=province["id"], district=districts[0]["id"], staff=staff_account)]
    return rows


def _version(report_id: int, data: dict, writer: int, held: date) -> dict:
    at = datetime(held.year, held.month, held.day, tzinfo=UTC)
    return dict(report_id=report_id, version=1, data=data, submitted_by=writer, submitted_at=at)


async def measure(url: str, meta: dict, replies: int) -> dict:
    from chidoan.bot.checkpointer import Checkpointer
    from chidoan.bot.processor import Processor
    from chidoan.exports.xlsx import export, export_elsewhere
    from chidoan.handlers import build_engine
    from chidoan.storage.db import make_db

    settings = settings_for(url)
    db = make_db(url, checkpoints=False)  # as the service runs it, with its checkpointer
    checkpointer = Checkpointer(url)
    await checkpointer.start()
    processor = Processor(db, build_engine(settings), clock=lambda: NOW.astimezone(UTC))
    await processor.start()
    transactions: list[float] = []

    async def read(work):
        def run(uow):
            started = time.perf_counter()
            try:
                return work(uow)
            finally:
                transactions.append((time.perf_counter() - started) * 1000)

        return await processor.run(run)

    async def render(work, *args):
        return await asyncio.to_thread(work, *args)

    async def beside_replies(export_once, tag: str) -> tuple[float, bytes, list[float]]:
        started = time.perf_counter()
        job = asyncio.create_task(export_once())
        done = asyncio.Event()
        job.add_done_callback(lambda _t: done.set())
        busy = await time_replies(processor, tag, replies * 100, stop=done)
        content = await job
        return time.perf_counter() - started, content, busy

    figures: dict = {}
    try:
        await export_elsewhere(settings, meta["district"], YEAR, NOW)  # the child is spawned once, at the first
        figures["quiet"] = await time_replies(processor, "quiet", replies)
        seconds, content, busy = await beside_replies(
            lambda: export_elsewhere(settings, meta["province"], YEAR, NOW), "child"
        )
        figures["child"] = {"seconds": seconds, "bytes": len(content), "busy": busy}
        seconds, content, busy = await beside_replies(
            lambda: export(read, render, meta["province"], YEAR, settings, now=NOW), "thread"
        )
        figures["thread"] = {
            "seconds": seconds,
            "bytes": len(content),
            "busy": busy,
            "transactions": list(transactions),
        }
        figures["documents"] = await documents(read, transactions, meta["province"], settings)
    finally:
        await processor.stop()
        await checkpointer.stop()
        db.dispose()
    return figures


async def documents(read, transactions: list[float], province: int, settings) -> dict:
    """The province's compiled report and decision (/baocaohuyen, /quyetdinh) read as their job
    reads them: the read transactions' durations in ms, and the units listed."""
    from chidoan.documents.gather import compiled_document, decision_document
    from chidoan.programmes.loader import programmes

    programme = programmes(settings)[PROGRAMME]
    today = NOW.date()
    first = len(transactions)  # the export's are before
    compiled = await compiled_document(read, province, programme, YEAR, today, settings)
    await decision_document(read, province, programme, YEAR, today, settings)
    return {"transactions": transactions[first:], "units": len(compiled.units)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=400, help="replies measured without an export")
    args = parser.parse_args()
    from chidoan.bot.app import settle_heap
    from chidoan.storage.db import make_db, upgrade

    rows = generate()
    meta = rows.pop("_meta")[0]
    counts = {name: len(batch) for name, batch in rows.items()}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/export.sqlite3"
        db = make_db(url)
        upgrade(db)
        load(db, rows)
        db.dispose()
        del rows
        settle_heap()  # as the service does at start (bot/app.py)
        figures = asyncio.run(measure(url, meta, args.replies))
    quiet = figures["quiet"]
    print(
        f"province: {counts['org_unit']:,} units, {counts['registration']:,} plans, {counts['report']:,} reports, "
        f"{counts['commitment']:,} commitments"
    )
    print(
        f"replies without an export: p50 {statistics.median(quiet):.1f} ms, p99 {percentile(quiet, 0.99):.1f} ms ({len(quiet)})"
    )
    for mode, label in (
        ("child", "in a child process (the service's way above 2,000 units)"),
        ("thread", "on this process's threads"),
    ):
        f = figures[mode]
        busy = f["busy"]
        print(f"export {label}: {f['seconds']:.1f} s, {f['bytes'] / 1e6:.1f} MB")
        print(
            f"  replies during it: p50 {statistics.median(busy):.1f} ms, p99 {percentile(busy, 0.99):.1f} ms ({len(busy)})"
        )
    chunks = figures["thread"]["transactions"]
    print(
        f"  read transactions: {len(chunks)}, longest {max(chunks):.1f} ms, median {statistics.median(chunks):.1f} ms"
    )
    docs = figures["documents"]["transactions"]
    print(
        f"compiled report + decision of the province ({figures['documents']['units']} units reviewed directly): "
        f"{len(docs)} read transactions, longest {max(docs):.1f} ms, median {statistics.median(docs):.1f} ms"
    )
    print(
        f"export: {figures['child']['seconds']:.1f} s; longest read transaction {max(chunks):.1f} ms; "
        f"longest document transaction {max(docs):.1f} ms; "
        f"reply p99 {percentile(quiet, 0.99):.1f} ms without, {percentile(figures['child']['busy'], 0.99):.1f} ms during"
    )


if __name__ == "__main__":
    main()
