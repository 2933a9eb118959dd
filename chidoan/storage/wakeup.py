"""Waking the leader after a commit (bot/wakeup.py listens): on PostgreSQL a writer of outbox
rows, nudge requests or jobs sends a NOTIFY in its own transaction; PostgreSQL delivers it at
commit (never for a rolled-back one) and folds repeats within a transaction into one. SQLite has
one process, whose sender the processor wakes itself."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

CHANNEL = "chidoan_wake"


def notify(conn: Connection, topic: str) -> None:
    """Tell the leader, at this transaction's commit, that `topic` ("outbox", "nudges", "jobs") has work."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_notify(CHANNEL, topic)))
