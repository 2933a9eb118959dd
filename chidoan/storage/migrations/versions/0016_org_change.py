"""org_change: the audit trail of the org tree (a unit moved or renamed by `chidoan org import`,
merged into another by `chidoan org merge`)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 15:40:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('org_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('by', sa.Integer(), nullable=True),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['by'], ['account.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('org_change', schema=None) as batch_op:
        batch_op.create_index('ix_org_change_unit', ['unit_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('org_change', schema=None) as batch_op:
        batch_op.drop_index('ix_org_change_unit')

    op.drop_table('org_change')
