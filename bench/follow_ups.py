"""The commitments' daily follow-up sweep (handlers/commitments.py `ask_due`) over many overdue
commitments that were all asked about already (the daily revisit: nothing new to ask), and one
round that asks about them all: wall time and SQL statements.

N base units, each with its secretary on Telegram, one dialogue report and K open commitments
overdue; the first sweep asks about all of them, the second (the next day) about none.

Run: python bench/follow_ups.py [--units 2000] [--per-unit 5] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, insert  # noqa: E402

from chidoan.handlers.commitments import ask_due  # noqa: E402
from chidoan.storage.db import make_db, upgrade  # noqa: E402
from chidoan.storage.models import (  # noqa: E402
    Account,
    ChannelIdentity,
    Commitment,
    OrgUnit,
    Report,
    RoleAssignment,
    table,
)
from chidoan.storage.uow import unit_of_work  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 08:00 in Vietnam


def seed(db, units: int, per_unit: int) -> None:
    at = datetime(2026, 9, 1, tzinfo=UTC)
    with db.begin() as conn:
        conn.execute(
            insert(table(OrgUnit)),
            [
                {
                    "id": 1,
                    "code": "P",
                    "name": "Province",
                    "kind": "province",
                    "path": "/1/",
                    "reviews": True,
                    "created_at": at,
                }
            ]
            + [
                {
                    "id": 1 + u,
                    "code": f"U{u}",
                    "name": f"Đoàn xã {u}",
                    "kind": "base_unit",
                    "parent_id": 1,
                    "path": f"/1/{1 + u}/",
                    "reviews": False,
                    "created_at": at,
                }
                for u in range(1, units + 1)
            ],
        )
        conn.execute(insert(table(Account)), [{"id": u, "locale": "vi", "created_at": at} for u in range(1, units + 1)])
        conn.execute(
            insert(table(ChannelIdentity)),
            [
                {
                    "account_id": u,
                    "channel": "telegram",
                    "external_id": str(u),
                    "chat_id": str(u),
                    "created_at": at,
                    "last_seen_at": at,
                }
                for u in range(1, units + 1)
            ],
        )
        conn.execute(
            insert(table(RoleAssignment)),
            [{"account_id": u, "unit_id": 1 + u, "role": "secretary", "granted_at": at} for u in range(1, units + 1)],
        )
        conn.execute(
            insert(table(Report)),
            [
                {
                    "id": u,
                    "unit_id": 1 + u,
                    "kind": "dialogue",
                    "held_on": date(2026, 9, 20),
                    "created_by": u,
                    "created_at": at,
                    "updated_at": at,
                }
                for u in range(1, units + 1)
            ],
        )
        conn.execute(
            insert(table(Commitment)),
            [
                {
                    "report_id": u,
                    "unit_id": 1 + u,
                    "promise": f"Việc {k}",
                    "promised_by": "Bí thư",
                    "due_on": date(2026, 10, 1) + timedelta(days=k),
                    "created_at": at,
                    "updated_at": at,
                }
                for u in range(1, units + 1)
                for k in range(per_unit)
            ],
        )


def sweep(db, now: datetime) -> tuple[int, float, int]:
    statements = 0

    def count(*_args) -> None:
        nonlocal statements
        statements += 1

    event.listen(db, "before_cursor_execute", count)
    began = time.perf_counter()
    with unit_of_work(db) as uow:
        asked = ask_due(uow, now, TZ)
    took = time.perf_counter() - began
    event.remove(db, "before_cursor_execute", count)
    return asked, took, statements


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--per-unit", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="an empty database (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = make_db(args.database_url or f"sqlite:///{tmp}/bench.sqlite3")
        upgrade(db)
        seed(db, args.units, args.per_unit)
        n = args.units * args.per_unit
        asked, took, statements = sweep(db, NOW)
        print(f"first sweep: asked {asked} of {n} commitments in {took:.2f} s, {statements} statements")
        asked, took, statements = sweep(db, NOW + timedelta(days=1))
        print(f"next day: asked {asked}, revisited {n} in {took:.3f} s, {statements} statements")
        db.dispose()


if __name__ == "__main__":
    main()
