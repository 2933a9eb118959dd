"""link approval and a global limit on wrong link codes: link_code.identity_id (where the code
was made: the owner allows the link there), claimed_identity_id (where it was typed: told the
outcome) and refused_at; link_guard, one row locked by every link code typed, with the time
until which all link codes are refused; link_attempt indexed by time alone (counted across
accounts)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 12:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    guard = op.create_table('link_guard',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('locked_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(guard, [{'id': 1, 'locked_until': None}])
    with op.batch_alter_table('link_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_link_attempt_at', ['attempted_at'], unique=False)

    with op.batch_alter_table('link_code', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('claimed_identity_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('refused_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(
            'fk_link_code_identity_id_channel_identity', 'channel_identity', ['identity_id'], ['id']
        )
        batch_op.create_foreign_key(
            'fk_link_code_claimed_identity_id_channel_identity', 'channel_identity', ['claimed_identity_id'], ['id']
        )
    # A code claimed before this revision was to be confirmed by whoever typed it: it now needs
    # the owner's approval, which nobody was asked for. It stops working; a new one is quick.
    op.execute("UPDATE link_code SET expires_at = created_at WHERE used_at IS NULL AND claimed_by IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('link_code', schema=None) as batch_op:
        batch_op.drop_constraint('fk_link_code_claimed_identity_id_channel_identity', type_='foreignkey')
        batch_op.drop_constraint('fk_link_code_identity_id_channel_identity', type_='foreignkey')
        batch_op.drop_column('refused_at')
        batch_op.drop_column('claimed_identity_id')
        batch_op.drop_column('identity_id')

    with op.batch_alter_table('link_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_link_attempt_at')

    op.drop_table('link_guard')
