"""Inbound events: stored before they are acknowledged; the unique key de-duplicates. An event
that could not be handled is stored marked failed (a dead letter), so it is kept and seen again
only as a duplicate.

Most events are stored and handled in one transaction (`record`: `processed_at` set at once).
A platform that must be answered within seconds whatever the database is doing (Zalo) has its
event stored on arrival instead (`accept`: raw, not processed), acknowledged, and handled
afterwards (`claim`: the one handling sets `processed_at`; a second claim finds it done).

Several workers on PostgreSQL: a platform that numbers a person's events (Telegram's update_id)
has each stored on arrival too, and one person's events are handled one at a time (`take_turns`,
a transaction-level advisory lock per person) and in their numbers' order (`earlier`: one that
finds an earlier event of its person received and not handled yet waits for it)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update
from sqlalchemy import text as sql
from sqlalchemy.dialects import postgresql, sqlite

from chidoan.storage.models import ChannelIdentity, InboundEvent, table
from chidoan.storage.prepared import Prepared
from chidoan.storage.rows import in_order

EVENT = table(InboundEvent)
IDENT = table(ChannelIdentity)


class EarlierFirst(Exception):
    """An earlier event of the same person was received and is not handled yet: this one waits."""


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
        self,
        *,
        channel: str,
        event_id: str,
        kind: str,
        text: str | None,
        payload: str | None,
        raw: str,
        now: datetime,
        user_id: str | None = None,
        durable: bool = True,
    ) -> int | None:
        """Store an event on arrival, before it is handled (`processed_at` NULL), with the body
        as received so it can be handled after a restart; None when it was stored before. With
        `user_id`, the sender's account when known already (what `earlier` looks for). Not
        `durable`: the platform is answered only after the event is handled, whose commit is
        flushed with this one before it, so this commit need not wait for the disk (PostgreSQL)."""
        if not durable and self.conn.dialect.name == "postgresql":  # for the whole transaction
            self.conn.execute(sql("SET LOCAL synchronous_commit TO OFF"))
        account = (
            select(IDENT.c.account_id)
            .where(IDENT.c.channel == channel, IDENT.c.external_id == user_id)
            .scalar_subquery()
            if user_id is not None
            else None
        )
        values = _row(channel, event_id, None, kind, text, payload, now) | {"processed_at": None, "raw": raw}
        values["account_id"] = account
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

    def take_turns(self, people: Iterable[tuple[str, str]]) -> None:
        """Hold each (channel, user id)'s turn until the transaction ends (PostgreSQL; SQLite has
        one writer). Several at once are taken in one order, so two batches never wait on each
        other."""
        keys = sorted({person_key(*person) for person in people})
        if keys and self.conn.dialect.name == "postgresql":
            self.conn.execute(
                sql("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
                {"keys": keys},
            )

    def earlier(self, channel: str, account_id: int, number: int) -> list[str]:
        """The event ids of the account's events on the channel received with a lower number than
        `number` and not handled yet (nor kept as failed): they are to be handled first."""
        stmt = select(EVENT.c.event_id).where(
            EVENT.c.channel == channel,
            EVENT.c.processed_at.is_(None),
            EVENT.c.failed_at.is_(None),
            EVENT.c.account_id == account_id,
        )
        return [e for e in self.conn.execute(stmt).scalars() if e.isdigit() and int(e) < number]

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


def person_key(channel: str, user_id: str) -> int:
    """A person's advisory lock key: a signed 64-bit hash of who they are on the channel."""
    digest = hashlib.blake2b(f"{channel}\0{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
