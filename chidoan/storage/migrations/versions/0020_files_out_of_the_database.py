"""files out of the database: a document's bytes move to the file store (storage/files.py); the
row keeps their key, size, type and checksum; `file_deletion` queues the bytes of deleted
documents until their deletion commits

The store is the one the running settings give for this database (`files.store_of`: the App and
`chidoan migrate` attach it; otherwise CHIDOAN_FILE_STORE / CHIDOAN_FILES_DIR from the
environment). Rows move in batches; each file is written (and flushed) before the transaction
that names it commits, so a failed upgrade leaves at most unnamed files, never a row without bytes.
Downgrade reads every file back into the column; the files stay in the store (unnamed).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 21:40:00
"""

import mimetypes

import sqlalchemy as sa
import sqlmodel
from alembic import op

from chidoan.storage.files import checksum, store_of

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

BATCH = 50  # rows (each up to 10 MB) read into memory at a time

document = sa.table(
    'document',
    sa.column('id', sa.Integer()),
    sa.column('filename', sa.String()),
    sa.column('content', sa.LargeBinary()),
    sa.column('storage_key', sa.String()),
    sa.column('size', sa.Integer()),
    sa.column('mime', sa.String()),
    sa.column('sha256', sa.String()),
    sa.column('created_at', sa.String()),
)
file_deletion = sa.table('file_deletion', sa.column('storage_key', sa.String()))


def _key(document_id: int, created_at: object) -> str:
    """The month it was made, then its id: unique, and the same key if an interrupted upgrade
    runs again (it overwrites its own file)."""
    month = str(created_at)[:7].replace('-', '/')
    return f"{month}/document-{document_id}"


def upgrade() -> None:
    op.create_table(
        'file_deletion',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('queued_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('mime', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.alter_column('content', existing_type=sa.LargeBinary(), nullable=True)
    conn = op.get_bind()
    files = store_of(conn.engine)
    last = 0
    while True:
        rows = conn.execute(
            sa.select(document.c.id, document.c.filename, document.c.content, document.c.created_at)
            .where(document.c.id > last)
            .order_by(document.c.id)
            .limit(BATCH)
        ).all()
        for row in rows:
            content = bytes(row.content)
            key = _key(row.id, row.created_at)
            files.put(key, content)
            conn.execute(
                document.update()
                .where(document.c.id == row.id)
                .values(
                    storage_key=key,
                    size=len(content),
                    mime=(mimetypes.guess_type(row.filename)[0] or 'application/octet-stream')[:100],
                    sha256=checksum(content),
                    content=None,
                )
            )
        if len(rows) < BATCH:
            break
        last = rows[-1].id
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.alter_column('storage_key', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch_op.alter_column('size', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('mime', existing_type=sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False)
        batch_op.alter_column('sha256', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch_op.create_unique_constraint('uq_document_storage_key', ['storage_key'])
        batch_op.drop_column('content')


def downgrade() -> None:
    conn = op.get_bind()
    files = store_of(conn.engine)
    for (key,) in conn.execute(sa.select(file_deletion.c.storage_key)):  # their rows are gone already
        files.delete(key)
    op.drop_table('file_deletion')
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content', sa.LargeBinary(), nullable=True))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(document.c.id, document.c.storage_key)
            .where(document.c.id > last)
            .order_by(document.c.id)
            .limit(BATCH)
        ).all()
        for row in rows:
            conn.execute(document.update().where(document.c.id == row.id).values(content=files.get(row.storage_key)))
        if len(rows) < BATCH:
            break
        last = rows[-1].id
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_constraint('uq_document_storage_key', type_='unique')
        batch_op.drop_column('sha256')
        batch_op.drop_column('mime')
        batch_op.drop_column('size')
        batch_op.drop_column('storage_key')
        batch_op.alter_column('content', existing_type=sa.LargeBinary(), nullable=False)
