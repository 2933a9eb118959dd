"""The last question shown in each chat of an account (see models.Prompt and engine/typed.py).

Both statements run on every update that gets a reply, so they are compiled once (`Prepared`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from chidoan.storage.models import Prompt, table
from chidoan.storage.prepared import Prepared
from chidoan.storage.rows import among

PROMPT = table(Prompt)

_LAST = Prepared(
    select(PROMPT.c.seq, PROMPT.c.body).where(
        PROMPT.c.account_id == bindparam("account_id"),
        PROMPT.c.channel == bindparam("channel"),
        PROMPT.c.chat_id == bindparam("chat_id"),
    )
)


def _upsert(dialect) -> Prepared:
    """Insert, or replace the row already there: two workers making the first one race harmlessly."""
    stmt = dialect.insert(PROMPT).values(
        account_id=bindparam("account_id"),
        channel=bindparam("channel"),
        chat_id=bindparam("chat_id"),
        seq=bindparam("seq"),
        body=bindparam("body", type_=PROMPT.c.body.type),
        updated_at=bindparam("updated_at", type_=PROMPT.c.updated_at.type),
    )
    excluded = stmt.excluded
    return Prepared(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "channel", "chat_id"],
            set_={"seq": excluded.seq, "body": excluded.body, "updated_at": excluded.updated_at},
        )
    )


_PUT = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}


class Prompts:
    def __init__(self, conn: Connection):
        self.conn = conn

    def last(self, account_id: int, channel: str, chat_id: str) -> tuple[int, dict[str, Any]] | None:
        """(seq, body) of the newest question shown to the account in that chat, or None before the first."""
        row = _LAST.first(self.conn, {"account_id": account_id, "channel": channel, "chat_id": chat_id})
        return (row.seq, row.body) if row else None

    def put(self, account_id: int, channel: str, chat_id: str, seq: int, body: dict[str, Any], now: datetime) -> None:
        """Make `body` the account's question in that chat."""
        params = {"account_id": account_id, "channel": channel, "chat_id": chat_id, "seq": seq, "body": body}
        _PUT[self.conn.dialect.name].rowcount(self.conn, params | {"updated_at": now})

    def put_many(self, rows: list[dict[str, Any]]) -> None:
        """`put` for many chats (a reminder sweep): rows of account_id, channel, chat_id, seq, body, updated_at."""
        if rows:
            _PUT[self.conn.dialect.name].many(self.conn, rows)

    def last_of(self, account_ids: list[int]) -> dict[tuple[int, str, str], tuple[int, dict[str, Any]]]:
        """`last` of every chat of these accounts, by (account_id, channel, chat_id)."""
        if not account_ids:
            return {}
        stmt = select(PROMPT.c.account_id, PROMPT.c.channel, PROMPT.c.chat_id, PROMPT.c.seq, PROMPT.c.body).where(
            among(PROMPT.c.account_id, account_ids)
        )
        return {(r.account_id, r.channel, r.chat_id): (r.seq, r.body) for r in self.conn.execute(stmt)}
