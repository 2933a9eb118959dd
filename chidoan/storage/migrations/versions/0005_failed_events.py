"""failed events: inbound_event keeps what could not be handled (a dead letter)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 10:45:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True))
        batch_op.add_column(sa.Column('raw', sa.Text(), nullable=True))
        batch_op.create_index(
            'ix_inbound_event_failed',
            ['failed_at'],
            unique=False,
            sqlite_where=sa.text('failed_at IS NOT NULL'),
            postgresql_where=sa.text('failed_at IS NOT NULL'),
        )


def downgrade() -> None:
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_event_failed')
        batch_op.drop_column('raw')
        batch_op.drop_column('error')
        batch_op.drop_column('failed_at')
