"""The hot path's statements (storage/prepared.py): a time bound in many statements of a batch
is formatted once, and what is stored is still exactly each value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from chidoan.storage.models import InboundEvent
from chidoan.storage.prepared import _memo
from chidoan.storage.uow import unit_of_work


def test_a_time_is_formatted_once_for_the_same_value():
    formatted: list[datetime] = []

    def process(value):
        formatted.append(value)
        return value.isoformat()

    bind = _memo(process)
    now = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [bind(now) for _ in range(5)] == [now.isoformat()] * 5
    assert formatted == [now]
    # An equal time in another zone is another value for the database: formatted again.
    there = now.astimezone(timezone(timedelta(hours=7)))
    assert bind(there) == there.isoformat() and bind(now) == now.isoformat()
    assert formatted == [now, there, now]


def test_events_of_a_batch_keep_their_own_times(db):
    first = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    later = first + timedelta(seconds=1)
    with unit_of_work(db) as uow:
        for n, at in enumerate([first, first, later, first]):
            uow.events.record(
                channel="web", event_id=f"e{n}", account_id=None, kind="text", text="x", payload=None, now=at
            )
    table = InboundEvent.__table__
    with db.connect() as conn:
        stored = {r.event_id: r.received_at for r in conn.execute(select(table.c.event_id, table.c.received_at))}
    assert [stored[f"e{n}"].replace(tzinfo=UTC) for n in range(4)] == [first, first, later, first]
