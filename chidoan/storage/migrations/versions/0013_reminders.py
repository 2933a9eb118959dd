"""reminders, one row per (obligation, account, stage), unique; obligation_met, when each was
last met; nudge_request, a reviewing staff's count or manual nudge to be done beside the replies; deadline_change, the moves of a reviewing unit's deadlines (the newest counts, the rows
are the audit trail)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 14:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('nudge_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('done_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('nudge_request', schema=None) as batch_op:
        batch_op.create_index('ix_nudge_request_open', ['done_at'], unique=False)
    op.create_table('obligation_met',
    sa.Column('obligation', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False),
    sa.Column('met_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('obligation')
    )
    op.create_table('deadline_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('obligation', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('programme', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('changed_by', sa.Integer(), nullable=False),
    sa.Column('changed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['changed_by'], ['account.id'], ),
    sa.ForeignKeyConstraint(['reviewer_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('deadline_change', schema=None) as batch_op:
        batch_op.create_index('ix_deadline_change_key', ['reviewer_id', 'obligation', 'programme', 'year'], unique=False)

    op.create_table('reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('obligation', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('stage', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('snoozed_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('obligation', 'account_id', 'stage')
    )
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_unit_id'), ['unit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_unit_id'))

    op.drop_table('reminder')
    with op.batch_alter_table('deadline_change', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_change_key')

    op.drop_table('deadline_change')
    op.drop_table('obligation_met')
    with op.batch_alter_table('nudge_request', schema=None) as batch_op:
        batch_op.drop_index('ix_nudge_request_open')

    op.drop_table('nudge_request')
