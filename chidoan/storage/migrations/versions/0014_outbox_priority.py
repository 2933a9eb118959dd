"""outbox priority: 0 a reply, 1 a notice, 2 bulk (a reminder season); the sender claims rows in
(priority, id) order, so a season never makes someone who is typing wait behind it. Rows stored
before this revision: replies stay 0, notices and templates become 1. The claim's index,
(status, priority, id, not_before), replaces (status, not_before): the claim reads it in order up
to its limit instead of sorting every due row.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 14:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='0'))
        batch_op.drop_index('ix_outbox_due')
        batch_op.create_index('ix_outbox_claim', ['status', 'priority', 'id', 'not_before'], unique=False)
    op.execute("UPDATE outbox SET priority = 1 WHERE kind <> 'reply'")


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_claim')
        batch_op.create_index('ix_outbox_due', ['status', 'not_before'], unique=False)
        batch_op.drop_column('priority')
