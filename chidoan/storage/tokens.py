"""A platform's OAuth pair (access and refresh token), one row per channel, written together.

Who may write it, and when, is decided by the caller (bot/channels/zalo_tokens.py: one refresh
at a time across processes). Nothing here logs or returns a token in a message.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, select
from sqlalchemy.dialects import postgresql, sqlite

from chidoan.storage.models import ChannelToken, table

TOK = table(ChannelToken)
ERROR_MAX = 512


class ChannelTokens:
    def __init__(self, conn: Connection):
        self.conn = conn

    def get(self, channel: str) -> Row | None:
        return self.conn.execute(select(TOK).where(TOK.c.channel == channel)).first()

    def store(
        self, channel: str, *, access_token: str, refresh_token: str, expires_at: datetime, now: datetime
    ) -> None:
        """Keep a new pair (the first one, or one a refresh issued), replacing the old one whole."""
        if not access_token or not refresh_token:
            raise ValueError("a token pair needs both tokens")  # never overwrite a good pair with nothing
        pair = {"access_token": access_token, "refresh_token": refresh_token, "expires_at": expires_at}
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(TOK).values(channel=channel, refreshed_at=now, **pair)
        self.conn.execute(stmt.on_conflict_do_update(index_elements=["channel"], set_=pair | {"refreshed_at": now}))

    def record_error(self, channel: str, error: str, now: datetime) -> None:
        """Why the newest refresh failed; the pair itself is left as it was."""
        self.conn.execute(
            TOK.update().where(TOK.c.channel == channel).values(last_error=error[:ERROR_MAX], last_error_at=now)
        )
