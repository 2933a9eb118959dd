"""status indexes: what the status of a reviewing unit's subtree (review/status.py) reads as
ranges of indexes: the registering units of a subtree by kind and path, any subtree by path
compared byte by byte (PostgreSQL: varchar_pattern_ops, whatever the collation), a unit's
reports of a year with their kind and status, a unit's commitments by status

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 15:40:00
"""

from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

PATTERN = {'path': 'varchar_pattern_ops'}


def upgrade() -> None:
    with op.batch_alter_table('org_unit', schema=None) as batch_op:
        batch_op.create_index('ix_org_unit_kind_path', ['kind', 'path'], unique=False, postgresql_ops=PATTERN)
        batch_op.create_index('ix_org_unit_path_bytes', ['path'], unique=False, postgresql_ops=PATTERN)
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.create_index('ix_report_unit_held', ['unit_id', 'held_on', 'kind', 'status'], unique=False)
    with op.batch_alter_table('commitment', schema=None) as batch_op:
        batch_op.create_index('ix_commitment_unit_status', ['unit_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('commitment', schema=None) as batch_op:
        batch_op.drop_index('ix_commitment_unit_status')
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_index('ix_report_unit_held')
    with op.batch_alter_table('org_unit', schema=None) as batch_op:
        batch_op.drop_index('ix_org_unit_path_bytes')
        batch_op.drop_index('ix_org_unit_kind_path')
