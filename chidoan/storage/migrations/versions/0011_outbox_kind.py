"""outbox kind: a reply, a notice, or a notice sent as a template message

A reply answers what the person just wrote and always goes to that chat; a notice (a district's
notice, a commitment's follow-up) goes where the person can be reached: Zalo's 7-day window is
checked when it is queued, and a notice Zalo refuses is queued again on another of the person's
channels (the refused row is kept as `rerouted`). A `template` row is sent as Zalo's approved
template message. Every row stored before this revision is taken for a reply. A chat's held rows
are found by a partial index, since each event from a Zalo person looks for them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 12:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default='reply')
        )
        batch_op.create_index(
            'ix_outbox_held',
            ['channel', 'chat_id'],
            unique=False,
            sqlite_where=sa.text("status = 'held'"),
            postgresql_where=sa.text("status = 'held'"),
        )


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_held')
        batch_op.drop_column('kind')
