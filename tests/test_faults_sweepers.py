"""Two `chidoan run` workers on one PostgreSQL, both sweeping reminders (each sweeps at start, at
the same moment) and both sending. The deadline is simulated by the data: secretaries bound 90
days ago, obligations counted from then, reminders allowed at any hour, so whatever the date the
test runs on, a stage of some obligation has come for every base unit (in late November: the
year's dialogue). Each reminder queued once and received once by the fake Bot API, per
recipient."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from chidoan.storage.db import make_db, upgrade
from chidoan.storage.models import Outbox, OutboxStatus, Role, RoleAssignment
from chidoan.storage.uow import unit_of_work
from tests.conftest import add_member, seed_org
from tests.fake_telegram import FakeTelegram
from tests.faults.conversations import _counts, received
from tests.faults.front import Front

pytestmark = pytest.mark.postgres

OUT = Outbox.__table__
UNITS = 30  # base units, each with a branch: 60 secretaries
FIRST_USER = 900_000
SENT_WITHIN = 30.0  # seconds after both workers answer
QUEUED = re.compile(r"reminders: (\d+) queued")


def secretaries(db, units: int, bound: datetime) -> list[int]:
    seed_org(db)
    now = datetime.now(UTC)
    people = []
    with unit_of_work(db) as uow:
        parent = uow.units.by_code("RG")
        for n in range(units):
            base = uow.units.add(
                code=f"S-{n:03d}", name=f"Đoàn xã Thử {n}", kind="base_unit", parent=parent, reviews=False, now=now
            )
            uow.units.add(
                code=f"S-{n:03d}-1", name=f"Chi đoàn Ấp {n}", kind="branch", parent=base, reviews=False, now=now
            )
    for n in range(units):
        for k, code in enumerate((f"S-{n:03d}", f"S-{n:03d}-1")):
            user = FIRST_USER + 2 * n + k
            add_member(db, str(user), f"Trần Văn Thử {user}", code, Role.secretary, channel="telegram")
            people.append(user)
    with unit_of_work(db) as uow:
        uow.conn.execute(update(RoleAssignment.__table__).values(granted_at=bound))
    return people


def reminder_rows(db) -> list:
    with db.connect() as conn:
        return list(
            conn.execute(
                select(OUT.c.chat_id, OUT.c.body, OUT.c.status, OUT.c.dedupe_key)
                .where(OUT.c.dedupe_key.like("reminder:%"))
                .order_by(OUT.c.id)
            )
        )


async def run_sweepers(tmp_path, pg_url: str, units: int, rounds: int = 1) -> dict:
    db = make_db(pg_url)
    upgrade(db)
    bound = datetime.now(UTC) - timedelta(days=90)
    people = secretaries(db, units, bound)
    env = {
        "CHIDOAN_REMINDERS": "true",
        "CHIDOAN_REMINDER_HOURS": "00:00-23:59",  # whatever the hour the test runs at
        "CHIDOAN_OBLIGATIONS_FROM": bound.date().isoformat(),
        "CHIDOAN_SWEEP_PROCESS": "false",  # on the database thread: one process less per worker
    }
    async with FakeTelegram() as tg:
        began = time.monotonic()
        for _ in range(rounds):  # each round both start (and sweep) at once, then stop
            async with Front(tmp_path, pg_url, tg, count=2, **env) as front:
                up = time.monotonic()
                while not (rows := reminder_rows(db)) or any(r.status == OutboxStatus.pending for r in rows):
                    assert time.monotonic() - up < SENT_WITHIN, f"{len(rows)} reminders, some still pending"
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.0)  # a second sender, had it claimed a row too, would send it now
        took = time.monotonic() - began
        got = received(tg)
    logs = "".join(w.log.read_text() for w in front.workers)
    queued_by_sweeps = [int(n) for n in QUEUED.findall(logs)]
    rows = reminder_rows(db)
    twice = 0
    missing = 0
    for person in people:
        queued = _counts([r.body["text"] for r in rows if r.chat_id == str(person)])
        arrived = _counts(got.get(person, []))
        for text, copies in queued.items():
            twice += max(0, arrived.get(text, 0) - copies)
            missing += max(0, copies - arrived.get(text, 0))
    keys = [r.dedupe_key for r in rows]
    kinds = _counts([key.split(":")[1] for key in keys])
    figures = {
        "reminders": len(rows),
        "recipients": len({r.chat_id for r in rows}),
        "people": len(people),
        "sweeps_queued": queued_by_sweeps,
        "keys_twice": len(keys) - len(set(keys)),
        "kinds": kinds,
        "sent": sum(r.status == OutboxStatus.sent for r in rows),
        "twice": twice,
        "missing": missing,
    }
    db.dispose()
    print(
        f"\nfault sweepers: 2 workers x {rounds} start(s), {len(rows)} reminders to {figures['recipients']} of "
        f"{len(people)} secretaries {kinds}; queued by the sweeps {queued_by_sweeps}; sent {figures['sent']}, received twice "
        f"{twice}, missing {missing}; {took:.1f} s"
    )
    return figures


async def test_two_workers_sweep_and_send_each_reminder_once(tmp_path, pg_url):
    figures = await run_sweepers(tmp_path, pg_url, UNITS)
    assert figures["recipients"] >= UNITS  # every base unit (or branch) owes something
    assert figures["keys_twice"] == 0 and sum(figures["sweeps_queued"]) == figures["reminders"]
    assert figures["sent"] == figures["reminders"]
    assert figures["twice"] == 0 and figures["missing"] == 0
