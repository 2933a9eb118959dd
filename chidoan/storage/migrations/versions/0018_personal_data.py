"""personal data: the consent to the notice on the account (answer, version, when), when its
details were erased, the audit trail of privacy actions, and the indexes the retention prune
reads (oldest inbound events and outbox rows first)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 18:40:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('consent_version', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('consent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('erased_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table('privacy_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('notice_version', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('privacy_action', schema=None) as batch_op:
        batch_op.create_index('ix_privacy_action_account', ['account_id', 'action'], unique=False)
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_event_received', ['received_at'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_created', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_created')
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_event_received')
    with op.batch_alter_table('privacy_action', schema=None) as batch_op:
        batch_op.drop_index('ix_privacy_action_account')
    op.drop_table('privacy_action')
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch would copy the account table, and
    # dropping the old one fails while identities, roles and reports refer to it.
    for column in ('erased_at', 'consent_at', 'consent_version', 'consent'):
        op.drop_column('account', column)
