"""Generated files, kept as sent."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, Row, select

from chidoan.storage.models import Document, table
from chidoan.storage.rows import found, inserted_id

DOC = table(Document)


class Documents:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, *, kind: str, filename: str, content: bytes, now: datetime, source: str | None = None) -> int:
        return inserted_id(
            self.conn.execute(
                DOC.insert().values(
                    kind=kind,
                    filename=filename,
                    content=content,
                    token=secrets.token_urlsafe(24),
                    source=source,
                    created_at=now,
                )
            )
        )

    def one(self, document_id: int) -> Row:
        """The document, which must exist (fetch-or-fail; `get` when it may not)."""
        return found(self.get(document_id), "document", document_id)

    def get(self, document_id: int) -> Row | None:
        return self.conn.execute(select(DOC).where(DOC.c.id == document_id)).first()

    def by_token(self, token: str) -> Row | None:
        return self.conn.execute(select(DOC).where(DOC.c.token == token)).first()
