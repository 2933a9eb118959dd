"""The last question each account was sent (see models.Prompt and engine/typed.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from chidoan.storage.models import Prompt, table

P = table(Prompt)


class Prompts:
    def __init__(self, conn: Connection):
        self.conn = conn

    def last(self, account_id: int) -> tuple[int, dict[str, Any]] | None:
        """(seq, body) of the account's newest question, or None before the first."""
        row = self.conn.execute(select(P.c.seq, P.c.body).where(P.c.account_id == account_id)).first()
        return (row.seq, row.body) if row else None

    def put(self, account_id: int, seq: int, body: dict[str, Any], now: datetime, *, first: bool) -> None:
        """Replace the account's question (`first`: it has none yet, the row is made)."""
        values = {"seq": seq, "body": body, "updated_at": now}
        if first:
            self.conn.execute(P.insert().values(account_id=account_id, **values))
        else:
            self.conn.execute(P.update().where(P.c.account_id == account_id).values(**values))
