"""Inbound events: stored before they are acknowledged; the unique key de-duplicates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from chidoan.storage.models import InboundEvent

E = InboundEvent.__table__

# INSERT … ON CONFLICT DO NOTHING RETURNING id: one statement stores and de-duplicates.
_RECORD = {
    name: dialect.insert(E).on_conflict_do_nothing(index_elements=["channel", "event_id"]).returning(E.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
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
        params = {"channel": channel, "event_id": event_id, "account_id": account_id, "kind": kind, "text": text, "payload": payload, "received_at": now}
        return self.conn.execute(_RECORD[self.conn.dialect.name], params).scalar()

    def of_account(self, account_id: int) -> list:
        return list(self.conn.execute(select(E).where(E.c.account_id == account_id).order_by(E.c.id)))
