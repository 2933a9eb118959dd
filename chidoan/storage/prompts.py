"""The last question each account was sent (see models.Prompt and engine/typed.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from chidoan.storage.models import Prompt, table

P = table(Prompt)


class Prompts:
    def __init__(self, conn: Connection):
        self.conn = conn

    def last(self, account_id: int) -> tuple[int, dict[str, Any]] | None:
        """(seq, body) of the account's newest question, or None before the first."""
        row = self.conn.execute(select(P.c.seq, P.c.body).where(P.c.account_id == account_id)).first()
        return (row.seq, row.body) if row else None

    def put(self, account_id: int, seq: int, body: dict[str, Any], now: datetime) -> None:
        """Replace the account's question (an upsert: two workers making the first one race
        harmlessly, the later wins)."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        values = {"seq": seq, "body": body, "updated_at": now}
        stmt = dialect.insert(P).values(account_id=account_id, **values)
        self.conn.execute(stmt.on_conflict_do_update(index_elements=["account_id"], set_=values))
