"""Inbound events: stored before they are acknowledged; the unique key de-duplicates. An event
that could not be handled is stored marked failed (a dead letter), so it is kept and seen again
only as a duplicate.

Most events are stored and handled in one transaction (`record`: `processed_at` set at once).
A platform that must be answered within seconds whatever the database is doing (Zalo) has its
event stored on arrival instead (`accept`: raw, not processed), acknowledged, and handled
afterwards (`claim`: the one handling sets `processed_at`; a second claim finds it done)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from chidoan.storage.models import InboundEvent, table
from chidoan.storage.prepared import Prepared
from chidoan.storage.rows import in_order

EVENT = table(InboundEvent)

# INSERT … ON CONFLICT DO NOTHING RETURNING id: one statement stores and de-duplicates.
_COLUMNS = ("channel", "event_id", "account_id", "kind", "text", "payload", "received_at", "processed_at")
_RECORD = {
    name: Prepared(
        dialect.insert(EVENT)
        .values({c: bindparam(c) for c in _COLUMNS})
        .on_conflict_do_nothing(index_elements=["channel", "event_id"])
        .returning(EVENT.c.id)
    )
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _row(
    channel: str, event_id: str, account_id: int | None, kind: str, text: str | None, payload: str | None, now: datetime
) -> dict[str, Any]:
    return {
        "channel": channel,
        "event_id": event_id,
        "account_id": account_id,
        "kind": kind,
        "text": text,
        "payload": payload,
        "received_at": now,
        "processed_at": now,
    }


class Events:
    def __init__(self, conn: Connection):
        self.conn = conn

    def record(
        self,
        *,
        channel: str,
        event_id: str,
        account_id: int | None,
        kind: str,
        text: str | None,
        payload: str | None,
        now: datetime,
    ) -> int | None:
        """Store the event; None when this (channel, event id) was seen before."""
        params = _row(channel, event_id, account_id, kind, text, payload, now)
        row = _RECORD[self.conn.dialect.name].first(self.conn, params)
        return row.id if row else None

    def record_failed(self, *, error: str, raw: str | None, now: datetime, **event: Any) -> int | None:
        """Keep an event that could not be handled (the fields of `record`, with the error and the
        event as received); None when it was stored before. An event stored on arrival and not
        handled yet (`accept`) is that same row, marked failed now (its raw body stays)."""
        values = _row(**event, now=now) | {"failed_at": now, "error": error, "raw": raw, "processed_at": None}
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(EVENT).values(values)
        stmt = insert.on_conflict_do_update(
            index_elements=["channel", "event_id"],
            set_={
                "failed_at": now,
                "error": error,
                "account_id": insert.excluded.account_id,
                "raw": func.coalesce(EVENT.c.raw, insert.excluded.raw),
            },
            where=EVENT.c.processed_at.is_(None) & EVENT.c.failed_at.is_(None),
        ).returning(EVENT.c.id)
        return self.conn.execute(stmt).scalar_one_or_none()

    def accept(
        self, *, channel: str, event_id: str, kind: str, text: str | None, payload: str | None, raw: str, now: datetime
    ) -> int | None:
        """Store an event on arrival, before it is handled (`processed_at` NULL), with the body
        as received so it can be handled after a restart; None when it was stored before."""
        values = _row(channel, event_id, None, kind, text, payload, now) | {"processed_at": None, "raw": raw}
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(EVENT)
            .values(values)
            .on_conflict_do_nothing(index_elements=["channel", "event_id"])
            .returning(EVENT.c.id)
        )
        return self.conn.execute(stmt).scalar_one_or_none()

    def claim(
        self,
        *,
        channel: str,
        event_id: str,
        account_id: int | None,
        kind: str,
        text: str | None,
        payload: str | None,
        now: datetime,
    ) -> int | None:
        """Mark an accepted event handled, in the transaction that handles it; None when it was
        handled (or kept as failed) before, or never accepted: nothing is to be done."""
        stmt = (
            update(EVENT)
            .where(
                EVENT.c.channel == channel,
                EVENT.c.event_id == event_id,
                EVENT.c.processed_at.is_(None),
                EVENT.c.failed_at.is_(None),
            )
            .values(account_id=account_id, kind=kind, text=text, payload=payload, processed_at=now)
            .returning(EVENT.c.id)
        )
        return self.conn.execute(stmt).scalar_one_or_none()

    def unprocessed(self, channel: str, limit: int = 1000) -> list:
        """Events accepted and not handled yet (a restart in between), oldest first."""
        stmt = (
            select(EVENT.c.id, EVENT.c.event_id, EVENT.c.raw, EVENT.c.received_at)
            .where(EVENT.c.channel == channel, EVENT.c.processed_at.is_(None), EVENT.c.failed_at.is_(None))
            .order_by(EVENT.c.id)
            .limit(limit)
        )
        return list(self.conn.execute(stmt))

    def failed(self, limit: int = 20) -> list:
        """The newest failed events first."""
        stmt = select(EVENT).where(EVENT.c.failed_at.is_not(None)).order_by(EVENT.c.failed_at.desc(), EVENT.c.id.desc())
        return list(self.conn.execute(stmt.limit(limit)))

    def failed_since(self, since: datetime) -> int:
        """How many events were kept as failed since `since` (the partial index on failed_at)."""
        stmt = select(func.count()).select_from(EVENT).where(EVENT.c.failed_at >= since)
        return self.conn.execute(stmt).scalar_one()

    def text_of(self, event_row: int, account_id: int) -> str | None:
        """What the account sent in one stored event (an event held back for the notice)."""
        return self.conn.execute(
            select(EVENT.c.text).where(EVENT.c.id == event_row, EVENT.c.account_id == account_id)
        ).scalar_one_or_none()

    def of_account(self, account_id: int, limit: int | None = None) -> list:
        """What the account sent, in its order (with `limit`, only the newest so many)."""
        return in_order(self.conn, select(EVENT).where(EVENT.c.account_id == account_id), EVENT.c.id, limit)

    def latest(self, channel: str, *, failed: bool = False) -> Row | None:
        """The newest event a channel delivered (with `failed`, the newest of those kept as failed):
        how alive its webhook is."""
        stmt = select(EVENT).where(EVENT.c.channel == channel)
        if failed:
            stmt = stmt.where(EVENT.c.failed_at.is_not(None))
        stmt = stmt.order_by(EVENT.c.received_at.desc(), EVENT.c.id.desc())
        return self.conn.execute(stmt.limit(1)).first()
