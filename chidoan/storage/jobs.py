"""Jobs: work a handler leaves for after its commit (see bot/jobs.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from chidoan.storage.models import Job, table
from chidoan.storage.rows import inserted_id
from chidoan.storage.wakeup import notify

JOB = table(Job)


class Jobs:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(
        self, *, kind: str, account_id: int, channel: str, chat_id: str, params: dict[str, Any], now: datetime
    ) -> int | None:
        """Store a job, unless one identical to it (same account, kind, channel, chat and
        params) is still pending: then None (a hurried user's second /xuat is not a second export)."""
        same = select(JOB.c.params).where(
            JOB.c.done_at.is_(None),
            JOB.c.kind == kind,
            JOB.c.account_id == account_id,
            JOB.c.channel == channel,
            JOB.c.chat_id == chat_id,
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
        job_id = inserted_id(self.conn.execute(JOB.insert().values(**values)))
        notify(self.conn, "jobs")
        return job_id

    def pending(self) -> list[Row]:
        return list(self.conn.execute(select(JOB).where(JOB.c.done_at.is_(None)).order_by(JOB.c.id)))

    def done(self, job_id: int, now: datetime, *, error: str | None = None) -> None:
        self.conn.execute(JOB.update().where(JOB.c.id == job_id).values(done_at=now, error=error and error[:512]))
