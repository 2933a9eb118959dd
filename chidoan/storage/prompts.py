"""The last question each account was sent (see models.Prompt and engine/typed.py).

Both statements run on every update that gets a reply, so they are compiled once (`Prepared`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from chidoan.storage.models import Prompt, table
from chidoan.storage.prepared import Prepared

P = table(Prompt)

_LAST = Prepared(select(P.c.seq, P.c.body).where(P.c.account_id == bindparam("account_id")))


def _upsert(dialect) -> Prepared:
    """Insert, or replace the row already there: two workers making the first one race harmlessly."""
    stmt = dialect.insert(P).values(
        account_id=bindparam("account_id"),
        seq=bindparam("seq"),
        body=bindparam("body", type_=P.c.body.type),
        updated_at=bindparam("updated_at", type_=P.c.updated_at.type),
    )
    excluded = stmt.excluded
    return Prepared(
        stmt.on_conflict_do_update(
            index_elements=["account_id"],
            set_={"seq": excluded.seq, "body": excluded.body, "updated_at": excluded.updated_at},
        )
    )


_PUT = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}


class Prompts:
    def __init__(self, conn: Connection):
        self.conn = conn

    def last(self, account_id: int) -> tuple[int, dict[str, Any]] | None:
        """(seq, body) of the account's newest question, or None before the first."""
        row = _LAST.first(self.conn, {"account_id": account_id})
        return (row.seq, row.body) if row else None

    def put(self, account_id: int, seq: int, body: dict[str, Any], now: datetime) -> None:
        """Make `body` the account's question."""
        params = {"account_id": account_id, "seq": seq, "body": body, "updated_at": now}
        _PUT[self.conn.dialect.name].rowcount(self.conn, params)
