"""Generated and received files, kept as sent: the row here, the bytes in the file store
(storage/files.py), written before the row commits and deleted after its deletion commits."""

from __future__ import annotations

import mimetypes
import secrets
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Engine, Row, delete, insert, literal, select

from chidoan.storage.clock import utcnow
from chidoan.storage.files import FileStore, checksum, new_key
from chidoan.storage.models import Document, FileDeletion, table
from chidoan.storage.rows import found, inserted_id

DOC = table(Document)
FILE_DELETION = table(FileDeletion)
# conn.info: the keys this connection's open transaction wrote (deleted again if it rolls back),
# and whether it queued deletions (carried out once it commits).
WRITTEN = "chidoan.files.written"
QUEUED = "chidoan.files.queued"
DRAIN_BATCH = 500


class FileDamaged(Exception):
    """The store's bytes are not the ones stored (checksum or size differs)."""


class Documents:
    def __init__(self, conn: Connection, files: FileStore):
        self.conn = conn
        self.files = files

    def add(
        self,
        *,
        kind: str,
        filename: str,
        content: bytes,
        now: datetime,
        source: str | None = None,
        mime: str | None = None,
    ) -> int:
        key = new_key(now)
        self.files.put(key, content)  # before the row: a committed row never points at nothing
        self.conn.info.setdefault(WRITTEN, []).append(key)
        return inserted_id(
            self.conn.execute(
                DOC.insert().values(
                    kind=kind,
                    filename=filename,
                    storage_key=key,
                    size=len(content),
                    mime=(mime or mimetypes.guess_type(filename)[0] or "application/octet-stream")[:100],
                    sha256=checksum(content),
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

    def content(self, document: Row) -> bytes:
        """The document's bytes, read from the store (only to send or serve them)."""
        return read_bytes(self.files, document)


def read_bytes(files: FileStore, document: Row) -> bytes:
    data = files.get(document.storage_key)
    if len(data) != document.size or checksum(data) != document.sha256:
        raise FileDamaged(f"document {document.id}: the bytes under {document.storage_key} are not the ones stored")
    return data


def forget(conn: Connection, which: ColumnElement[bool]) -> int:
    """Delete the documents `which` selects, queueing their bytes for deletion once this
    transaction commits (`drain_deletions`); returns how many rows went."""
    keys = select(DOC.c.storage_key, literal(utcnow(), FILE_DELETION.c.queued_at.type)).where(which)
    conn.execute(insert(FILE_DELETION).from_select(["storage_key", "queued_at"], keys))
    deleted = conn.execute(delete(DOC).where(which)).rowcount
    if deleted:
        conn.info[QUEUED] = True
    return deleted


def drain_deletions(db: Engine, files: FileStore) -> int:
    """Delete the queued bytes from the store, then their queue rows (a crash between the two
    deletes them again, harmlessly). Returns how many."""
    done = 0
    while True:
        with db.begin() as conn:
            batch = conn.execute(
                select(FILE_DELETION.c.id, FILE_DELETION.c.storage_key).order_by(FILE_DELETION.c.id).limit(DRAIN_BATCH)
            ).all()
            for row in batch:
                files.delete(row.storage_key)
            if batch:
                conn.execute(delete(FILE_DELETION).where(FILE_DELETION.c.id.in_([row.id for row in batch])))
        done += len(batch)
        if len(batch) < DRAIN_BATCH:
            return done
