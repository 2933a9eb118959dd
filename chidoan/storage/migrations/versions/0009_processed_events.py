"""processed events: an event can be stored on arrival and handled afterwards

A platform that must be answered within seconds whatever the database is doing (Zalo: 2 s) gets
its event stored at once and acknowledged, and handled in the queue afterwards; `processed_at`
says it was handled, and at start the events stored but never handled are handled then.
Every event stored before this revision was handled in the transaction that stored it (or kept
as failed), so they are marked processed at the time they arrived.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 11:30:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('processed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.execute("UPDATE inbound_event SET processed_at = received_at WHERE failed_at IS NULL")
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.create_index(
            'ix_inbound_event_unprocessed',
            ['channel'],
            unique=False,
            sqlite_where=sa.text('processed_at IS NULL AND failed_at IS NULL'),
            postgresql_where=sa.text('processed_at IS NULL AND failed_at IS NULL'),
        )


def downgrade() -> None:
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_event_unprocessed')
        batch_op.drop_column('processed_at')
