"""Jobs: work a handler leaves for after its commit (see bot/jobs.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from chidoan.storage.models import Job, table
from chidoan.storage.rows import inserted_id

J = table(Job)


class Jobs:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(
        self, *, kind: str, account_id: int, channel: str, chat_id: str, params: dict[str, Any], now: datetime
    ) -> int | None:
        """Store a job, unless one identical to it (same account, kind, channel, chat and
        params) is still pending: then None (a hurried user's second /xuat is not a second export)."""
        same = select(J.c.params).where(
            J.c.done_at.is_(None),
            J.c.kind == kind,
            J.c.account_id == account_id,
            J.c.channel == channel,
            J.c.chat_id == chat_id,
        )
        if any(row.params == params for row in self.conn.execute(same)):
            return None
        values = {
            "kind": kind,
            "account_id": account_id,
            "channel": channel,
            "chat_id": chat_id,
            "params": params,
            "created_at": now,
        }
        return inserted_id(self.conn.execute(J.insert().values(**values)))

    def pending(self) -> list[Row]:
        return list(self.conn.execute(select(J).where(J.c.done_at.is_(None)).order_by(J.c.id)))

    def done(self, job_id: int, now: datetime, *, error: str | None = None) -> None:
        self.conn.execute(J.update().where(J.c.id == job_id).values(done_at=now, error=error and error[:512]))
