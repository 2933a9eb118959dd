"""Compiled reports a reviewing unit sent to the level above (seed 004 step 2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, select

from chidoan.storage.models import CompiledReport, Document, table
from chidoan.storage.rows import inserted_id

COMPILED = table(CompiledReport)
DOC = table(Document)


class CompiledReports:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(
        self,
        *,
        unit_id: int,
        programme: str,
        year: int,
        document_id: int,
        sent_by: int,
        sent_at: datetime,
        on_time: bool,
    ) -> int:
        values = {
            "unit_id": unit_id,
            "programme": programme,
            "year": year,
            "document_id": document_id,
            "sent_by": sent_by,
            "sent_at": sent_at,
            "on_time": on_time,
        }
        return inserted_id(self.conn.execute(COMPILED.insert().values(**values)))

    def by_document(self, document_id: int) -> Row | None:
        """The sending of this document, if it was sent (a document is sent once). On PostgreSQL
        the document's row is locked first, so two workers handling two presses of the same
        button one after the other see the first one's sending (SQLite has one writer)."""
        self.conn.execute(select(DOC.c.id).where(DOC.c.id == document_id).with_for_update())
        return self.conn.execute(
            select(COMPILED).where(COMPILED.c.document_id == document_id).order_by(COMPILED.c.id)
        ).first()

    def of_unit(self, unit_id: int, programme: str, year: int) -> list[Row]:
        stmt = select(COMPILED).where(
            COMPILED.c.unit_id == unit_id, COMPILED.c.programme == programme, COMPILED.c.year == year
        )
        return list(self.conn.execute(stmt.order_by(COMPILED.c.id)))
